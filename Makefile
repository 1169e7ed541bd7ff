# nslaunch: the familiar entry points.
#
#   make                 build nslaunch and the static nsinit (target/release/)
#   make demo            build, make a busybox rootfs, run a real container in it
#   make test            everything: unit tests and end-to-end containers, as
#                        root and as an unprivileged user (as root, installs
#                        what the tests need; see README); ends with how many
#                        end-to-end cases were skipped and why
#   make install         install both into $(PREFIX)/bin (PREFIX=/usr/local),
#                        their man pages into $(PREFIX)/share/man/man1
#   make lint            cargo fmt --check and clippy -D warnings
#   make bench           nslaunch and nsinit against their peers, as root
#                        (BENCH_QUICK=1 for a smoke run); writes
#                        docs/BENCHMARKS.md (see bench/bench.sh)

CARGO   ?= cargo
PREFIX  ?= /usr/local
BINDIR  := $(DESTDIR)$(PREFIX)/bin
MANDIR  := $(DESTDIR)$(PREFIX)/share/man/man1
HOST    := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
OUT     := target/release
STATIC  := target/$(HOST)/release
DEMO_ROOTFS ?= demo-rootfs

.PHONY: all build demo test unit e2e install uninstall lint clean bench

all: build

# Both binaries are static: nsinit runs inside rootfs trees that have no
# libc of their own, and a static nslaunch starts about 0.9 ms faster and
# uses a third less memory here (no dynamic loader; neither binary uses NSS).
# crt-static needs an explicit --target, else the proc-macro crates are
# built static too and fail. Both are copied to target/release/, nsinit
# beside nslaunch, where nslaunch looks for it.
build:
	@test -n "$(HOST)" || { echo "make: rustc not found (install Rust: https://rustup.rs)" >&2; exit 1; }
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release --locked -p nslaunch -p nsinit-alone --target $(HOST)
	mkdir -p $(OUT)
	cp -f $(STATIC)/nsinit $(STATIC)/nslaunch $(OUT)/

$(DEMO_ROOTFS)/bin/sh:
	@scripts/test-deps.sh busybox
	scripts/mkrootfs.sh $(DEMO_ROOTFS)

demo: build $(DEMO_ROOTFS)/bin/sh
	@echo '$$ nslaunch --rootfs $(DEMO_ROOTFS) sh -c "id; cat /proc/self/uid_map; ps; ls /"'
	@$(OUT)/nslaunch --rootfs $(DEMO_ROOTFS) sh -c \
	  'echo "--- id:"; id; echo "--- /proc/self/uid_map:"; cat /proc/self/uid_map; echo "--- ps:"; ps; echo "--- ls /:"; ls /'
	@echo
	@echo "An interactive shell in the same container: $(OUT)/nslaunch --rootfs $(DEMO_ROOTFS) sh"

# Unit tests need nothing; the end-to-end tests need the built binaries,
# busybox-static and, as root, an unprivileged user (scripts/test-deps.sh);
# the engine tests (tests/tests/engines.rs) need podman, containerd, runc
# and a test image (scripts/engine-setup.sh).
# Every end-to-end case that cannot run here is listed in $(SKIPS); the
# last lines say how many were skipped and why (scripts/e2e-skips.sh),
# and as root a skip fails the run.
SKIPS := $(CURDIR)/target/e2e-skips.txt

test: build
	@if [ "$$(id -u)" = 0 ]; then \
	  echo "make test, as root: installs with apt-get what the tests need when it is missing"; \
	  echo "  (busybox-static, uidmap, python3, zstd, groff-base, strace, systemd's tools, gcc,"; \
	  echo "  passt, podman with conmon, runc, crun, containerd); creates the users nslaunch-test"; \
	  echo "  and nslaunch-nosub when missing; adds a range for nslaunch-test to /etc/subuid and"; \
	  echo "  /etc/subgid when it has none; imports a test image into podman and containerd."; \
	  echo "  It changes or removes nothing you already had (see scripts/test-deps.sh and"; \
	  echo "  scripts/engine-setup.sh)."; \
	fi
	scripts/test-deps.sh all
	scripts/engine-setup.sh
	@rm -f "$(SKIPS)"
	NSLAUNCH_TEST_SKIPS="$(SKIPS)" \
	  NSLAUNCH_BIN=$(CURDIR)/$(OUT)/nslaunch NSINIT_BIN=$(CURDIR)/$(OUT)/nsinit \
	  $(CARGO) test --release --locked --workspace; \
	  status=$$?; scripts/e2e-skips.sh "$(SKIPS)" || status=1; exit $$status

# (The standalone nsinit, a no_std program with its own start-up code,
# has no test binary: its code is nslaunch-base's, tested there.)
unit:
	$(CARGO) test --locked --workspace --exclude nsinit-alone --lib --bins

install: build
	install -d $(BINDIR)
	install -m 755 $(OUT)/nslaunch $(BINDIR)/nslaunch
	install -m 755 $(OUT)/nsinit $(BINDIR)/nsinit
	install -d $(MANDIR)
	install -m 644 docs/nslaunch.1 docs/nsinit.1 $(MANDIR)/

uninstall:
	rm -f $(BINDIR)/nslaunch $(BINDIR)/nsinit
	rm -f $(MANDIR)/nslaunch.1 $(MANDIR)/nsinit.1

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

bench: build
	bench/bench.sh

clean:
	$(CARGO) clean
	rm -rf $(DEMO_ROOTFS)
