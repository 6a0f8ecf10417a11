"""``make demo``: the main job. Boot the enforcing VM and show the seed's problem and its fix.

Scenario 0 repeats the seed's recipe without the tool (the child fails while enforcing); the
secure-child scenario does the same and then runs ``secure-child postfix-sub``. Both boot from the
same cached image; the figures and a before/after table are printed.
"""

import os
import sys

from tests.vm.image import base_image
from tests.vm.runner import SCENARIOS, run_scenario

SHOWN = [
    ("enforce_after", "SELinux mode at the end"),
    ("label:/var/spool/postfix-sub", "label of /var/spool/postfix-sub"),
    ("label:/var/lib/postfix-sub", "label of /var/lib/postfix-sub"),
    ("unit_state", "postfix@postfix-sub.service"),
    ("listening", "listening on 127.0.0.1:10025"),
    ("smtp", "SMTP probe"),
    ("denials_boot_unit", "Postfix AVC/SELINUX_ERR records"),
    ("secure_child_seconds", "secure-child wall time (s)"),
]
ORDER = ["00_seed_without_tool", "10_secure_child"]


def main():
    # type: () -> int
    image = base_image()
    info = image.build_info
    print("base image {} ({})".format(image.directory, "cached" if info.get("cached") else
                                      "built in {}s".format(info.get("total_seconds"))))
    results = []
    for name in ORDER:
        if not os.path.isfile(os.path.join(SCENARIOS, name + ".sh")):
            print("scenario {}: not available in this version".format(name))
            continue
        result = run_scenario(name)
        print(result.summary())
        print(result.log)
        results.append(result)
    width = 34
    print("\n{:<{w}} ".format("", w=width) + " ".join("{:<36}".format(r.name) for r in results))
    for key, title in SHOWN:
        print("{:<{w}} ".format(title, w=width) +
              " ".join("{:<36}".format(r.facts.get(key, "-")[:36]) for r in results))
    return 0 if all(r.rc == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
