# turnq: one flat, non-recursive Makefile (CONVENTIONS rule 13).
#   make            build bin/worker, bin/dispatcher, bin/ollama-sim, bin/warehouse-env
#   make test       build and run every test (unit + integration), ends "N passed, N failed"
#   make asan       the same tests under AddressSanitizer (SANITIZER=address)
#   make demo       a real 12-experiment sweep on two simulated GPU boxes
#   make install    copy bin/worker and bin/dispatcher to $(DESTDIR)$(PREFIX)/bin (/usr/local/bin)
# User CFLAGS/LDFLAGS append to ours; USE_WERROR=0 turns -Werror off for packagers.

CC      ?= cc
PKGS    := hiredis libcurl jansson
WARN    := -Wall -Wextra -Wformat=2 -Wstrict-prototypes -Wwrite-strings \
           -Wshadow -Wno-missing-field-initializers
USE_WERROR ?= 1
ifeq ($(USE_WERROR),1)
WARN += -Werror
endif
OPT     ?= -O2
PROJ_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g $(OPT) $(WARN) \
              -Icommon -I$(O) -MMD -MP $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libev ships no .pc file on Debian; http_parser neither.
PROJ_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lev -lm
ifdef SANITIZER
PROJ_CFLAGS += -fsanitize=$(SANITIZER) -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS     += -fsanitize=$(SANITIZER)
endif
ALL_CFLAGS = $(PROJ_CFLAGS) $(CFLAGS)

# O: objects, BIN: binaries. make asan builds into build/asan so the two never mix.
O   ?= build
BIN ?= bin

VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.1.0-dev)

COMMON_OBJS := $(patsubst %.c,$(O)/%.o,$(wildcard common/*.c))
WORKER_LIB_OBJS := $(patsubst %.c,$(O)/%.o,$(filter-out worker/main.c,$(wildcard worker/*.c)))
DISP_LIB_OBJS := $(patsubst %.c,$(O)/%.o,$(filter-out dispatcher/main.c,$(wildcard dispatcher/*.c)))
SIM_OBJS    := $(patsubst %.c,$(O)/%.o,$(wildcard tests/ollama-sim/*.c))
ENV_OBJS    := $(patsubst %.c,$(O)/%.o,$(wildcard examples/warehouse/*.c))
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
UNIT_BINS   := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRCS))
TESTLIB_OBJS := $(patsubst %.c,$(O)/%.o,$(wildcard tests/lib/*.c))
BENCH_OBJS  := $(patsubst %.c,$(O)/%.o,$(wildcard bench/*.c))

BINS := $(BIN)/worker $(BIN)/dispatcher $(BIN)/ollama-sim $(BIN)/warehouse-env

.PHONY: all clean test check check-unit check-integration asan ubsan noopt demo deps deps-demo bench FORCE install
all: $(BINS) $(UNIT_BINS)

$(O)/version.h: FORCE
	@mkdir -p $(O)
	@echo '#define TURNQ_VERSION "$(VERSION)"' > $@.tmp
	@cmp -s $@.tmp $@ || mv $@.tmp $@; rm -f $@.tmp
FORCE:

# V=1 shows the full commands.
Q := $(if $(V),,@)
$(O)/%.o: %.c | $(O)/version.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(O)/libcommon.a: $(COMMON_OBJS)
	$(Q)ar rcs $@ $^

$(BIN)/worker: $(O)/worker/main.o $(WORKER_LIB_OBJS) $(O)/libcommon.a
	@mkdir -p $(BIN)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PROJ_LIBS)

$(BIN)/dispatcher: $(O)/dispatcher/main.o $(DISP_LIB_OBJS) $(O)/libcommon.a
	@mkdir -p $(BIN)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PROJ_LIBS)

$(BIN)/ollama-sim: $(SIM_OBJS) $(O)/libcommon.a
	@mkdir -p $(BIN)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PROJ_LIBS) -lhttp_parser

$(BIN)/warehouse-env: $(ENV_OBJS) $(O)/libcommon.a
	@mkdir -p $(BIN)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PROJ_LIBS)

# Unit tests may link any module of worker/ and dispatcher/ (not their main.c).
$(O)/tests/%: $(O)/tests/unit/%.o $(TESTLIB_OBJS) $(WORKER_LIB_OBJS) $(DISP_LIB_OBJS) $(O)/libcommon.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PROJ_LIBS)

# The benchmark's baseline client: bench/*.c (one program).
$(O)/bench/baseline: $(BENCH_OBJS) $(O)/libcommon.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PROJ_LIBS)

deps:
	@tests/deps.sh

test check: deps all
	@TURNQ_BIN=$(BIN) TURNQ_BUILD=$(O) tests/run.sh

check-unit: all
	@TURNQ_BIN=$(BIN) TURNQ_BUILD=$(O) tests/run.sh unit

check-integration: all
	@TURNQ_BIN=$(BIN) TURNQ_BUILD=$(O) tests/run.sh integ

asan:
	$(MAKE) SANITIZER=address OPT=-O1 O=build/asan BIN=build/asan/bin test

ubsan:
	$(MAKE) SANITIZER=undefined OPT=-O1 O=build/ubsan BIN=build/ubsan/bin test

noopt:
	$(MAKE) OPT=-O0

# The demo needs only the build's packages and what demo.sh runs (tests/deps.sh demo).
deps-demo:
	@tests/deps.sh demo

demo: deps-demo all
	@TURNQ_BIN=$(BIN) examples/demo.sh

bench: deps all $(if $(BENCH_OBJS),$(O)/bench/baseline)
	@TURNQ_BIN=$(BIN) TURNQ_BUILD=$(O) bench/run.sh

# The two programs a box runs (the systemd unit's ExecStart, the image's PATH); DESTDIR for
# staging (the Dockerfile, packagers).
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
install: $(BIN)/worker $(BIN)/dispatcher
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(BIN)/worker $(BIN)/dispatcher $(DESTDIR)$(BINDIR)/

clean:
	rm -rf build bin

.SECONDARY:

-include $(shell find $(O) -name '*.d' 2>/dev/null)
