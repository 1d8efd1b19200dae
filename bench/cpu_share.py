"""Lambda's CPU share for a memory size, as a CPU-bandwidth cgroup that benchmarked processes run in.

Lambda allocates CPU in proportion to memory: at 1,769 MB a function has the equivalent of one vCPU (Lambda
developer guide, "Configure Lambda function memory"). So a 128 MB function gets 128/1769 ≈ 7.2 % of a core and
a 512 MB one ≈ 28.9 %. Here that share is a CFS bandwidth quota: cgroup v2 `cpu.max` or cgroup v1
`cpu.cfs_quota_us`/`cpu.cfs_period_us`, on a 100 ms period. Only the function's process goes into the group;
the emulator and the Runtime API keep the whole machine, as AWS's services do. Needs root.
"""

import os
import shutil
from pathlib import Path

ONE_VCPU_MB = 1769
PERIOD_US = 100_000
ROOT = Path("/sys/fs/cgroup")


def fraction(memory_mb):
    return memory_mb / ONE_VCPU_MB


class CpuShare:
    """A cgroup limited to `memory_mb` worth of Lambda CPU; `preexec` puts a child process into it."""

    def __init__(self, memory_mb):
        self.memory_mb = memory_mb
        self.quota_us = round(PERIOD_US * fraction(memory_mb))
        name = f"ecs-deployer-bench-{memory_mb}mb-{os.getpid()}"
        if (ROOT / "cgroup.controllers").exists():  # v2
            controllers = (ROOT / "cgroup.subtree_control").read_text().split()
            if "cpu" not in controllers:
                (ROOT / "cgroup.subtree_control").write_text("+cpu")
            self.path = ROOT / name
            self.path.mkdir()
            (self.path / "cpu.max").write_text(f"{self.quota_us} {PERIOD_US}")
            self.how = f"cgroup v2 cpu.max = \"{self.quota_us} {PERIOD_US}\""
        elif (ROOT / "cpu" / "cpu.cfs_quota_us").exists():  # v1
            self.path = ROOT / "cpu" / name
            self.path.mkdir()
            (self.path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (self.path / "cpu.cfs_quota_us").write_text(str(self.quota_us))
            self.how = f"cgroup v1 cpu.cfs_quota_us = {self.quota_us} per cpu.cfs_period_us = {PERIOD_US}"
        else:
            raise OSError("no cgroup CPU controller found under /sys/fs/cgroup")

    def preexec(self):
        """For subprocess.Popen(preexec_fn=…): runs in the child before exec, so the function starts limited."""
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def close(self):
        # A cgroup is removed with rmdir once no process is left in it.
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except OSError:
                import time
                time.sleep(0.1)
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def available():
    """Why CPU shares cannot be measured here, or None when they can."""
    if os.geteuid() != 0:
        return "not root"
    if not ((ROOT / "cgroup.controllers").exists() or (ROOT / "cpu" / "cpu.cfs_quota_us").exists()):
        return "no cgroup CPU controller"
    return None
