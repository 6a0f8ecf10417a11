"""Distribution packaging: the .deb (debian/), the RPM spec (rpm/), man pages and completion.

tests/packaging/debs.py's build_deb() is also used by the VM test bed to install the .deb.
"""
