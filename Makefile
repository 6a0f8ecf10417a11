# One command each on a fresh Debian 12 machine (as root):
#   make test   installs what is needed, checks Python 3.6 compatibility, runs every test
#               (including the enforcing-SELinux VM scenarios)
#   make demo   boots the enforcing VM and runs the seed scenarios, printing before/after
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
# Debian packages the host needs: the real SELinux userspace and policy, Postfix, the VM bed, and
# a C compiler with the Python headers for the scanner's optional native walker (avc/_fastscan.c).
DEB_PACKAGES := selinux-policy-default selinux-utils policycoreutils policycoreutils-python-utils \
	semodule-utils checkpolicy setools python3-selinux python3-setools python3-semanage \
	python3-venv python3-pip postfix auditd qemu-system-x86 qemu-utils mmdebstrap e2fsprogs \
	vagrant ca-certificates gcc libc6-dev python3-dev \
	build-essential dpkg-dev debhelper dh-python pybuild-plugin-pyproject python3-all \
	python3-setuptools python3-wheel lintian man-db rpm help2man bash-completion

.PHONY: test demo deps venv lint clean bench

deps:
	@missing=$$(dpkg-query -W -f='$${Package} $${db:Status-Abbrev}\n' $(DEB_PACKAGES) 2>/dev/null \
		| awk '$$2 != "ii" {print $$1}'; for p in $(DEB_PACKAGES); do \
		dpkg-query -W $$p >/dev/null 2>&1 || echo $$p; done | sort -u); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends $$missing; \
	else echo "Debian packages: all present"; fi

# The venv comes from the distro python so the distro's selinux/setools/semanage bindings are visible.
venv: deps
	@test -x $(PY) || /usr/bin/python3 -m venv --system-site-packages $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'

lint: venv
	$(VENV)/bin/vermin -t=3.6- --no-tips --violations --eval-annotations src/ policy_templates/

# Tests, then the benchmarks' smoke run (figures printed; targets are not asserted in tests).
# Two workers (pytest-xdist, --dist loadfile): each VM boot's tests live in one module and so stay
# on one worker; two boots, or a boot and the host tests, share the two CPUs (.ci/run within 1 h).
# --no-loadscope-reorder keeps tests/conftest.py's order (the longest boots first): xdist would
# otherwise start the modules with the most tests, and the boots would run last, one at a time.
test: lint
	$(VENV)/bin/pytest -v -n 2 --dist loadfile --no-loadscope-reorder
	PY=$(PY) bench/run_all.sh --smoke

demo: venv
	$(PY) -m tests.vm.demo

bench: venv
	PY=$(PY) bench/run_all.sh

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info src/postmulti_selinux/avc/_fastscan*.so

# Distribution packaging (debian/, rpm/, man/, completion/; tests in tests/packaging/).
# make deb: the .deb built from a temp copy of the tree (tests/packaging/debs.py) into dist/.
# make man: rewrite man/*.8 from the commands' --help (help2man); commit the result.
.PHONY: deb man
deb: deps
	/usr/bin/python3 -m tests.packaging.debs dist

man: venv
	$(PY) man/generate.py
