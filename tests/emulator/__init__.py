"""A local AWS endpoint for the deployer's integration tests and demo: moto plus what moto lacks.

- ``server``: the WSGI front (accounting, access policy, fault injection) over moto's server
- ``jobs``: the CodePipeline job API (PutJobSuccessResult, PutJobFailureResult, GetJobDetails)
- ``deployments``: ECS service deployments (every strategy, hooks, failures) that move on per scenario
- ``runtime``: a Lambda Runtime API to run the real function binary
- ``harness``: starting and stopping all of it, and playing CodePipeline
"""
