# Two commands: `make demo` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test lint clean test-other-pandas docs

$(STAMP): pyproject.toml
	bash scripts/system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned: the CPU build; an unpinned torch would pull GBs of CUDA packages
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[torch,postgres,dev,web,spark,docs]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/auditor demo --out demo

# import rules: the contracts in pyproject.toml ([tool.importlinter]: no cycles, the
# layers) and no package importing another package's private names
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python scripts/check_private_imports.py

# The suite on two pytest-xdist workers (its budget: 8 minutes on a 2-core machine). Each
# test module is one unit of work, the Spark modules share one, longest first (see the
# end of tests/conftest.py). PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= 2
PYTEST_XDIST = -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

test: lint
	bash scripts/system-deps.sh --browser
	$(BIN)/pytest $(PYTEST_XDIST)

# the documentation site, reference pages generated from the code (docs/gen_reference.py);
# --strict: a broken link or a warning fails the build. The environment variables silence
# two plugins' banners about MkDocs' future (they are not about this site). No --quiet:
# it hides warnings from --strict, which then passes a broken link.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true PYTHONPATH=$(CURDIR) \
		$(BIN)/mkdocs build --strict --site-dir site

# the category/text paths under the other pandas major (downloads it; not part of `test`)
test-other-pandas: $(STAMP)
	bash scripts/test-other-pandas.sh

clean:
	rm -rf $(VENV) demo auditor.db build dist site .mypy_cache .ruff_cache .pytest_cache
