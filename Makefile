# Thin wrapper around meson for the commands people type.
#   make          build into build/
#   make check    every test: gcc build, ASan+UBSan build, clang build,
#                 fuzzers briefly on their corpora
#   make demo     the demo (needs root: network namespaces)
#   make bench    benchmarks, numbers side by side with their baselines
#   make fuzz     long fuzzing and differential runs
#   make install  install into PREFIX (default /usr/local)

MESON   ?= meson
PREFIX  ?= /usr/local
FUZZ_SECONDS ?= 15
LONG_FUZZ_SECONDS ?= 600

.PHONY: all deps check check-gcc check-asan check-clang check-fuzz demo bench fuzz install clean

all: build/build.ninja
	$(MESON) compile -C build

build/build.ninja:
	$(MESON) setup build --prefix=$(PREFIX)

deps:
	@tools/install-deps

check: deps
	@tests/run-check

demo: deps all
	@tests/demo/demo.sh build

bench: deps
	$(MESON) setup build-bench --buildtype=release -Dtests=false >/dev/null
	$(MESON) compile -C build-bench
	@bench/run build-bench

fuzz: deps
	@FUZZ_SECONDS=$(LONG_FUZZ_SECONDS) LONG=1 tests/run-fuzz

install: all
	$(MESON) install -C build

clean:
	rm -rf build build-asan build-clang build-fuzz build-bench
