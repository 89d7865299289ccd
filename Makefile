# hail: see README.md. Plain make; pkg-config finds the libraries.
CC ?= cc
PKG_CONFIG ?= pkg-config
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DESTDIR ?=

CFLAGS ?= -O2 -g
PKGS := libcurl libcjson openssl zlib libsystemd expat libseccomp yaml-0.1
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS))
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS))
WARN := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla
# Debian's hardening (dpkg-buildflags with hardening=+all): checked libc
# calls, stack protector, read-only relocations bound at start. Not in the
# sanitizer and fuzz builds, and _FORTIFY_SOURCE only with an optimisation.
ifeq ($(filter -fsanitize=%,$(CFLAGS))$(filter 1,$(SANITIZE)),)
HARDEN_CFLAGS := -fstack-protector-strong -fstack-clash-protection
HARDEN_CFLAGS += $(if $(filter -O1 -O2 -O3 -Os,$(CFLAGS)),-D_FORTIFY_SOURCE=2)
HARDEN_LDFLAGS := -Wl,-z,relro -Wl,-z,now
endif
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) $(HARDEN_CFLAGS) -Ilib -Iagent -Ibootstrap $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS := -Wl,--as-needed $(HARDEN_LDFLAGS) $(LDFLAGS)
ifneq ($(filter -fsanitize=fuzzer-no-link%,$(CFLAGS)),)
ALL_LDFLAGS += -fsanitize=address,undefined
endif

# make SANITIZE=1: AddressSanitizer + UBSan build in its own folder.
ifeq ($(SANITIZE),1)
BUILD ?= build/asan
ALL_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
ALL_LDFLAGS += -fsanitize=address,undefined
else
BUILD ?= build
endif

LIB_SRC := $(wildcard lib/*.c)
AGENT_SRC := $(filter-out agent/main.c,$(wildcard agent/*.c))
BOOT_SRC := $(filter-out bootstrap/main.c,$(wildcard bootstrap/*.c))
UNIT_SRC := $(wildcard tests/unit/test_*.c)

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
AGENT_OBJ := $(AGENT_SRC:%.c=$(BUILD)/obj/%.o)
BOOT_OBJ := $(BOOT_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all check unit install demo bench soak clean torture image-test
all: $(BUILD)/hail $(BUILD)/hail-bootstrap

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/hail: $(BUILD)/obj/agent/main.o $(AGENT_OBJ) $(LIB_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/hail-bootstrap: $(BUILD)/obj/bootstrap/main.o $(BOOT_OBJ) $(LIB_OBJ)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(AGENT_OBJ) $(BOOT_OBJ) $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

unit: $(UNIT_BIN)

# Every test: unit, static, end to end, plain and under ASan+UBSan and
# valgrind; ends with "N passed, N failed".
check: all unit
	$(MAKE) --no-print-directory SANITIZE=1 BUILD=$(BUILD)/asan all unit
	$(FUZZ_MAKE) BUILD=$(BUILD)/fuzz fuzzers
	BUILD=$(BUILD) tests/run

# The QEMU boot test of the image (also part of make check).
image-test: all
	BUILD=$(BUILD) VALGRIND=0 TESTS=image/ tests/run

# make torture [TORTURE_TRIALS=200 TORTURE_SEED=N]: the SIGKILL trials, longer.
TORTURE_TRIALS ?= 200
torture: all
	BUILD=$(BUILD) TORTURE_TRIALS=$(TORTURE_TRIALS) /usr/bin/python3 tests/e2e/test_torture.py

# The files, from image/install's one list (the binaries, the launcher, the
# units, the man pages that exist, the docs); the system user and enabling
# the units are the package's (make deb) or by hand (README, "The AMI").
install: $(BUILD)/hail $(BUILD)/hail-bootstrap
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" BINDIR="$(BINDIR)" BUILD="$(BUILD)" image/install

# make deb: $(BUILD)/hail_VERSION_ARCH.deb, the same files staged by
# image/install (README, "The AMI").
.PHONY: deb
deb: all
	BUILD="$(BUILD)" image/deb/build

demo: all
	tests/demo

bench: all
	BUILD=$(BUILD) bench/run

# make soak [SOAK_DEPLOYMENTS=100]: one agent, that many builds in a row
SOAK_DEPLOYMENTS ?= 100
soak: all
	BUILD=$(BUILD) bench/soak.py $(SOAK_DEPLOYMENTS)

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# make fuzz [FUZZ_SECONDS=600]: each libFuzzer harness in tests/fuzz/ for a
# bounded time, from its seed corpus (clang; ASan+UBSan).
FUZZ_SECONDS ?= 60
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
.PHONY: fuzz fuzzers
fuzzers: $(FUZZ_BIN)
$(BUILD)/fuzz/%: $(BUILD)/obj/tests/fuzz/%.o $(AGENT_OBJ) $(BOOT_OBJ) $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS)

FUZZ_MAKE = $(MAKE) --no-print-directory CC=clang SANITIZE=0 \
	CFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all"
fuzz:
	$(FUZZ_MAKE) BUILD=build/fuzz fuzzers
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run build/fuzz
