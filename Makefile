# ngsp: build, test, demo and bench.  See README.md.
#
#   make            build build/ngx_http_ngsp_module.so against Debian's nginx
#   make run        build and start the demo (make stop stops it)
#   make test       unit tests, then integration tests against real nginx/redis
#   make asan       the module built with ASan+UBSan (build/asan/)
#   make fuzz       short libFuzzer runs of every engine fuzz target
#   make bench      side-by-side benchmarks
#   make deb        the Debian package libnginx-mod-http-ngsp in build/deb/
#   make deb-test   install, upgrade, remove and purge it on this machine

NGINX_SRC   ?= /usr/share/nginx/src
BUILD       ?= build
PY          ?= /usr/bin/python3
FUZZ_SECONDS ?= 20
# what `make integration` runs: make integration TESTS=tests/integration/quota
TESTS       ?= tests/integration
SAN         ?=

B           := $(abspath $(BUILD))
LIBS        := -lcrypto -ljansson -lhiredis -lz
# one folder per concern, each with its engine (ngsp_*) and glue
# (ngx_http_ngsp_*); tests mirror the folders
CONCERNS    := common jwt quota redis mask audit status lua
ENGINE_SRCS := $(sort $(wildcard ngx_module/*/ngsp_*.c))
ENGINE_HDRS := $(sort $(wildcard ngx_module/*/ngsp_*.h))
GLUE_SRCS   := $(sort $(wildcard ngx_module/*/ngx_http_ngsp_*.c ngx_module/*/ngx_http_ngsp_*.h))
UNIT_SRCS   := $(sort $(wildcard tests/unit/*/test_*.c))
UNIT_HDRS   := $(sort $(wildcard tests/unit/*/*.h))
# helpers of a concern's tests: tests/unit/<concern>/*.c but test_*.c,
# linked into its unit tests, fuzzers and benches
HELPER_SRCS := $(filter-out $(UNIT_SRCS),$(sort $(wildcard tests/unit/*/*.c)))
FUZZ_SRCS   := $(sort $(wildcard tests/fuzz/*/fuzz_*.c))
ENGINE_INCS := $(addprefix -Ingx_module/,$(CONCERNS))
TEST_INCS   := $(addprefix -I,$(wildcard tests/unit/*))
ECFLAGS     := -std=gnu99 -g -O2 -Wall -Wextra -Werror $(ENGINE_INCS) -fPIC \
               -D_GNU_SOURCE

ifneq ($(SAN),)
NGX_CC_OPT  := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
               -fno-sanitize-recover=undefined
NGX_LD_OPT  := -fsanitize=address,undefined
else
NGX_CC_OPT  := -g -O2 -Wall -Werror
NGX_LD_OPT  :=
endif

.PHONY: all module deps run stop test unit integration asan asan-test fuzz \
        bench clean tools status-page deb deb-test FORCE

all: module tools

module: $(B)/ngx_http_ngsp_module.so

deps:
	@tools/install-deps

# configure runs again only when config or the list of source files
# changes: the list is rewritten (at parse time) only when it differs
SRCLIST     := $(ENGINE_SRCS) $(GLUE_SRCS) $(NGINX_SRC) $(SAN)
$(shell mkdir -p $(B) && echo "$(SRCLIST)" | cmp -s - $(B)/.srclist \
    || echo "$(SRCLIST)" > $(B)/.srclist)

$(B)/nginx/objs/Makefile: config $(B)/.srclist
	@test -f $(NGINX_SRC)/configure || { echo "ngsp: no nginx source at $(NGINX_SRC) (apt-get install nginx-dev, or make NGINX_SRC=...)"; exit 1; }
	rm -rf $(B)/nginx && mkdir -p $(B) && cp -r $(NGINX_SRC) $(B)/nginx
	cd $(B)/nginx && flags=$$(bash -c 'if [ -f conf_flags ]; then . ./conf_flags; echo "$${NGX_CONF_FLAGS[@]}"; fi') && \
	  ./configure $$flags --with-compat --add-dynamic-module=$(CURDIR) \
	    --with-cc-opt="$(NGX_CC_OPT)" --with-ld-opt="$(NGX_LD_OPT)" > configure.log \
	  || { tail -20 configure.log; exit 1; }

$(B)/ngx_http_ngsp_module.so: $(B)/nginx/objs/Makefile FORCE
	$(MAKE) -s -C $(B)/nginx -f objs/Makefile modules
	@tools/install-module $(B)/nginx/objs/ngx_http_ngsp_module.so $@

# --- engines, unit tests, tools -----------------------------------------

ENGINE_OBJS := $(patsubst ngx_module/%.c,$(B)/engine/%.o,$(ENGINE_SRCS))

$(B)/engine/%.o: ngx_module/%.c $(ENGINE_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ECFLAGS) $(EXTRA_CFLAGS) -c $< -o $@

HELPER_OBJS := $(patsubst tests/unit/%.c,$(B)/unit/%.o,$(HELPER_SRCS))

$(B)/unit/%.o: tests/unit/%.c $(ENGINE_HDRS) $(UNIT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ECFLAGS) $(TEST_INCS) $(TEST_CFLAGS) -c $< -o $@

# a test links the helpers of its concern ($(dir $*) is "<concern>/")
$(B)/unit/%: tests/unit/%.c $(ENGINE_OBJS) $(HELPER_OBJS) $(UNIT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ECFLAGS) $(TEST_INCS) $(TEST_CFLAGS) -Wno-unused-parameter $< \
	  $(filter $(B)/unit/$(dir $*)%,$(HELPER_OBJS)) $(ENGINE_OBJS) -o $@ \
	  -lcmocka $(LIBS) $(TEST_LIBS)

# the mask helpers judge XML with libxml2 (libxml2-dev)
XML2_CFLAGS := $(shell pkg-config --cflags libxml-2.0 2>/dev/null || echo -I/usr/include/libxml2)
$(B)/unit/mask/% $(B)/fuzz/mask/%: TEST_CFLAGS = $(XML2_CFLAGS)
$(B)/unit/mask/% $(B)/fuzz/mask/%: TEST_LIBS = -lxml2

.SECONDARY: $(ENGINE_OBJS) $(HELPER_OBJS)

UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/unit/%,$(UNIT_SRCS))

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; (cd tests/unit && $$t); done

$(B)/ngsp-token: tools/ngsp-token.c
	$(CC) $(ECFLAGS) $< -o $@ -ljwt -ljansson

# ngspctl links the quota engine, so it derives keys as nginx does
NGSPCTL_SRCS := $(sort $(wildcard tools/ngspctl/*.c))
NGSPCTL_HDRS := $(sort $(wildcard tools/ngspctl/*.h))
QUOTA_OBJS  := $(filter $(B)/engine/quota/%,$(ENGINE_OBJS))
ifneq ($(SAN),)
NGSPCTL_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
               -fno-omit-frame-pointer
endif

$(B)/ngspctl: $(NGSPCTL_SRCS) $(NGSPCTL_HDRS) $(QUOTA_OBJS) $(ENGINE_HDRS)
	$(CC) $(ECFLAGS) $(EXTRA_CFLAGS) $(NGSPCTL_SAN) -Itools/ngspctl \
	  $(NGSPCTL_SRCS) $(QUOTA_OBJS) $(EXTRA_LDFLAGS) \
	  -o $@ -lhiredis -ljansson -lcurl -lcrypto -lm

tools: $(B)/ngsp-token $(B)/ngspctl

# the dashboard's C string, from the page (a unit test fails when stale)
status-page:
	@tools/gen-status-page

# --- integration ----------------------------------------------------------

integration: module tools
	NGSP_MODULE=$(B)/ngx_http_ngsp_module.so NGSP_BUILD=$(B) NGSP_SAN=$(SAN) \
	  $(PY) -m pytest -q -p no:cacheprovider $(TESTS) $(PYTEST_ARGS)

test: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) integration

asan:
	$(MAKE) module BUILD=$(BUILD)/asan SAN=1

asan-test: deps
	$(MAKE) integration BUILD=$(BUILD)/asan SAN=1

# --- fuzzing (clang libFuzzer) -------------------------------------------

FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRCS))

$(B)/fuzz/%: tests/fuzz/%.c $(ENGINE_SRCS) $(ENGINE_HDRS) $(HELPER_SRCS) \
    $(UNIT_HDRS)
	@mkdir -p $(dir $@)
	clang -std=gnu99 -g -O1 $(ENGINE_INCS) $(TEST_INCS) -D_GNU_SOURCE \
	  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	  $(TEST_CFLAGS) $< $(filter tests/unit/$(dir $*)%,$(HELPER_SRCS)) \
	  $(ENGINE_SRCS) -o $@ $(LIBS) $(TEST_LIBS)

fuzz: deps $(FUZZ_BINS)
	@set -e; for f in $(FUZZ_BINS); do n=$$(basename $$f); \
	  mkdir -p $(B)/fuzz/corpus-$$n $(B)/fuzz/artifacts; \
	  seeds=; [ -d tests/fuzz/seeds/$$n ] && seeds=tests/fuzz/seeds/$$n; \
	  echo "== $$n ($(FUZZ_SECONDS)s)"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	    -artifact_prefix=$(B)/fuzz/artifacts/$$n- \
	    $(B)/fuzz/corpus-$$n $$seeds > $(B)/fuzz/$$n.log 2>&1 \
	  || { tail -40 $(B)/fuzz/$$n.log; echo "ngsp: $$n failed"; exit 1; }; \
	  grep -E "^#[0-9]+.*(DONE|pulse)" $(B)/fuzz/$$n.log | tail -1; done

# --- demo -----------------------------------------------------------------

run: deps
	$(MAKE) all
	@tools/demo start $(B)

stop:
	@tools/demo stop $(B)

bench: deps
	$(MAKE) all $(ENGINE_OBJS)
	@bench/run $(B)

# --- Debian package -------------------------------------------------------

# DEB_VERSION=x builds the package as version x (the upgrade test's
# rebuild); otherwise debian/changelog must carry ngsp_version.h's version
deb:
	@tools/install-deps deb
	@tools/build-deb $(B)/deb $(DEB_VERSION)

deb-test: deb
	tests/deb/test_deb.sh $(B)/deb

clean:
	rm -rf $(BUILD)

FORCE:
