# Everything a fresh machine needs is installed by the targets themselves.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the tests use (promtool and prometheus, docker-compose to check the
# Compose file, headless Chromium for the replay report); installed only as root.
DEBIAN_PACKAGES := prometheus docker-compose chromium chromium-driver
# The Apache Kafka broker the tests run beside the embedded one (brokers/kafka-pom.xml).
KAFKA_CACHE := .cache/apache-kafka
KAFKA_STAMP := $(KAFKA_CACHE)/.fetched

.DEFAULT_GOAL := help
.PHONY: help install compile system-deps apache-kafka demo test fuzz lint schemas bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# The engine is compiled in place by `make compile`, not by pip: an editable install
# builds in a temporary folder, and the two would compile everything twice.
$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "Python 3.11 is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	PURE_PYTHON_ENGINE=1 $(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: compile ## create .venv, install the project with its dev tools, compile the engine

# setup.py compiles engine/ with Cython (about 75 s on two cores), then only the modules
# edited since (the tests refuse to run on a compiled module older than its source).
compile: $(STAMP) ## compile the engine's edited modules (Cython; pure Python without a C compiler)
	@if command -v cc >/dev/null; then ENGINE_COMPILE_STRICT=1 $(BIN)/python setup.py -q build_ext --inplace; \
	else echo "no C compiler: the engine runs as pure Python (about 1.3x slower)"; fi

system-deps: ## install the Debian packages the tests need (when root)
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else echo "not root: install$$missing yourself for the tests that need it"; fi

$(KAFKA_STAMP): brokers/kafka-pom.xml
	rm -rf $(KAFKA_CACHE)/lib
	mvn -q -B -f brokers/kafka-pom.xml dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory=$(abspath $(KAFKA_CACHE))/lib
	touch $(KAFKA_STAMP)

apache-kafka: ## fetch the pinned Apache Kafka broker with Maven (needs java and mvn)
	@if command -v java >/dev/null && command -v mvn >/dev/null; then \
		$(MAKE) -s --no-print-directory $(KAFKA_STAMP); \
	else echo "no java or mvn: the Apache Kafka tests skip (and fail under CI=true)"; fi

demo: install ## run broker, worker and generator live in the terminal
	$(BIN)/segment-engine demo

test: install system-deps apache-kafka lint fuzz ## run the whole test suite (unit, property, integration)
	$(BIN)/python -m pytest

FUZZ_SECONDS ?= 3
fuzz: install ## fuzz every decoder briefly with atheris (FUZZ_SECONDS each; tests/fuzz)
	$(BIN)/python -m tests.fuzz.run --seconds $(FUZZ_SECONDS)

lint: install ## ruff, formatting and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy schemas engine synthetic settings brokers streams replay cli bench

schemas: install ## re-export the JSON Schemas and docs/configuration.md after changing a setting or contract
	$(BIN)/python -m schemas.export
	$(BIN)/python -m settings.reference

clean: ## remove the venv, caches and the compiled engine
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .segment-engine .cache build
	find engine -name '*.so' -delete
