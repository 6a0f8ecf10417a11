"""``make demo``: the main job. Boot the enforcing VM and show the seed's problem and its fix.

Scenario 0 repeats the seed's recipe without the tool (the child fails while enforcing); the
secure-child scenario does the same and then runs ``secure-child postfix-sub``. Both boot from the
same cached Debian image; the figures and a before/after table are printed. Then the seed's own
platform: the EL family with the EL7-era policy (scenario 40: one postfix.service for all
instances, no python3 semanage/setools), before and after ``secure-child``, and after a reboot.
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
EL_FAMILY = "el7"
EL_SHOWN = [
    ("sub_before_service", "sub_after_service", "boot_service", "postfix.service"),
    ("sub_before_smtp25", "sub_after_smtp25", "boot_smtp25", "the parent on 25"),
    ("sub_before_smtp10025", "sub_after_smtp10025", "boot_smtp10025", "postfix-sub on 10025"),
    ("perm_before_smtp2525", "perm_after_smtp2525", "boot_smtp2525", "postfix-perm on 2525"),
    ("sub_before_masters", "perm_after_masters", "boot_masters", "masters"),
    ("parent_alone_denials", "perm_new_denials", "boot_new_denials",
     "Postfix denials (before: the parent alone; after: new ones)"),
]


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
    el = run_scenario("40_el_host", timeout=2700, family=EL_FAMILY)
    print(el.summary())
    print(el.log)
    results.append(el)
    print("\n{} family (secure-child postfix-sub, then postfix-perm):".format(EL_FAMILY))
    print("{:<{w}} {:<30} {:<30} {:<30}".format("", "without the tool", "after secure-child",
                                               "after a reboot", w=width))
    for before, after, boot, title in EL_SHOWN:
        print("{:<{w}} ".format(title[:width], w=width) + " ".join(
            "{:<30}".format(el.facts.get(k, "-")[:30]) for k in (before, after, boot)))
    print("secure-child exit codes: postfix-sub {}, postfix-perm {}, postfix-bad {} (cannot "
          "start; the parent kept serving)".format(el.facts.get("sub_secure_rc"),
                                                   el.facts.get("perm_secure_rc"),
                                                   el.facts.get("bad_secure_rc")))
    return 0 if all(r.rc == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
