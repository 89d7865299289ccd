#!/usr/bin/python3
"""cloud-init's Ec2 datasource alone, in one process: what is left of
`cloud-init init` when the stages, the config merging and the user-data
handlers are taken away (shared/anchors.md, "the datasource alone").

Usage:  ec2_datasource.py IMDS_URL
Run it inside bench/cloudinit_sandbox.py: the datasource only asks for an
IMDSv2 token when the host looks like AWS, and get_data() writes below
/run/cloud-init.

Prints one line "RESULT {json}" with the time spent importing cloudinit and
in get_data() (the crawl), in seconds; exits 1 when get_data() finds nothing.
"""

import json
import sys
import time

T_START = time.monotonic()
# The imports are part of what is measured, hence here and not above.
from cloudinit import distros, helpers  # noqa: E402
from cloudinit.sources import DataSourceEc2  # noqa: E402
T_IMPORTED = time.monotonic()


def system_config(url):
    """The same datasource settings as the sandbox's cloud.cfg."""
    return {"datasource": {"Ec2": {"metadata_urls": [url], "strict_id": False,
                                   "timeout": 5, "max_wait": 10}}}


def main(url):
    paths = helpers.Paths({"cloud_dir": "/var/lib/cloud", "run_dir": "/run/cloud-init"})
    distro = distros.fetch("debian")("debian", {}, paths)
    ds = DataSourceEc2.DataSourceEc2(system_config(url), distro, paths)
    t0 = time.monotonic()
    found = ds.get_data()
    crawl = time.monotonic() - t0
    print("RESULT " + json.dumps({"imports": T_IMPORTED - T_START, "crawl": crawl,
                                  "found": bool(found), "cloud_name": ds.cloud_name,
                                  "instance_id": (ds.metadata or {}).get("instance-id")}))
    return 0 if found else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
