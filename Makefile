# The two commands of the quick start are `make demo` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin

.PHONY: install demo down test lint typecheck unit bench chaos load schemas image clean

install: $(VENV)/.installed .venv-checkov/.installed

$(VENV)/.installed: pyproject.toml constraints.txt scripts/install-system.sh
	bash scripts/install-system.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test,local]'
	touch $@

# checkov (the manifests' security scan) pins packages that clash with ours: it gets its own venv.
.venv-checkov/.installed:
	test -x .venv-checkov/bin/python || python3 -m venv .venv-checkov
	.venv-checkov/bin/pip install -q --disable-pip-version-check checkov==3.3.30
	touch $@

demo: install
	$(BIN)/mailferry demo

down:
	@if [ -x $(BIN)/mailferry ]; then $(BIN)/mailferry down; else echo "nothing was installed"; fi

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

# The container image, built with buildah into .image/ (tests/image/ starts the services from it).
image: install
	bash scripts/build-image.sh

# The linter, the type checker and the image build run side by side (the build waits on the network and the
# compiler, mypy on one core), then pytest.
test: install
	$(MAKE) --no-print-directory -j3 lint typecheck image
	$(BIN)/pytest -p no:cacheprovider -q -ra --durations=40

schemas: install
	$(PY) -m shared.schema_export

bench: install
	$(PY) -m tests.bench.run $(BENCH_ARGS)
	$(PY) -m tests.bench.graph

# Faults during 5,000-message migrations, each checked message by message (see README "Chaos").
chaos: install
	$(PY) -m tests.chaos.run $(CHAOS_ARGS)

load: install
	$(PY) -m tests.bench.load $(LOAD_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .image
