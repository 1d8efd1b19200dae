"""Refreshes src/model/register-task-definition.json: the members RegisterTaskDefinition accepts, at every
depth, from ECS's own API model as botocore ships it (botocore/data/ecs/2014-11-13/service-2.json.gz).

The Rust SDK's structs lag behind ECS (aws-sdk-ecs 1.157 has no `trustedExecutionConfiguration`, which ECS and
botocore's model have), so `taskDefinitionFile` is validated against this copy of the model instead.

Usage: .venv/bin/python scripts/refresh-ecs-model.py   (uses the botocore installed beside it)
Shape of the output: {"botocore": version, "shape": tree}; a tree is
  {"members": {name: tree}}  a structure,  {"list": tree}  a list,  {"map": tree}  a map (any keys),
  {"type": "string" | "integer" | "boolean" | …}  a scalar.
"""

import gzip
import json
from pathlib import Path

import botocore

ROOT = Path(__file__).resolve().parents[1]
MODEL = Path(botocore.__file__).parent / "data" / "ecs" / "2014-11-13" / "service-2.json.gz"
OUT = ROOT / "src" / "model" / "register-task-definition.json"


def tree(shapes, name, seen=()):
    shape = shapes[name]
    kind = shape["type"]
    if name in seen:
        raise SystemExit(f"recursive shape {name}: the validator does not expect one")
    seen = seen + (name,)
    if kind == "structure":
        return {"members": {m: tree(shapes, spec["shape"], seen) for m, spec in sorted(shape["members"].items())}}
    if kind == "list":
        return {"list": tree(shapes, shape["member"]["shape"], seen)}
    if kind == "map":
        return {"map": tree(shapes, shape["value"]["shape"], seen)}
    return {"type": kind}


def main():
    model = json.loads(gzip.decompress(MODEL.read_bytes()))
    shapes = model["shapes"]
    out = {"botocore": botocore.__version__, "shape": tree(shapes, model["operations"]["RegisterTaskDefinition"]["input"]["shape"])}
    OUT.write_text(json.dumps(out, separators=(",", ":"), sort_keys=True) + "\n")
    members = out["shape"]["members"]
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size} bytes, botocore {botocore.__version__}, {len(members)} top-level members)")


if __name__ == "__main__":
    main()
