#!/usr/bin/env bash
# Run the tests of the category/text paths under the pandas major the venv does not have
# (issue 17: astype(str) keeps NaN under pandas 3, writes "nan" under pandas 2).
# pandas goes into a throwaway --target folder put first on PYTHONPATH, so .venv is not
# touched. Not part of `make test` (it downloads a wheel); the same paths are covered in
# every run by tests/unit/data/test_text_values.py, which feeds both majors' default dtypes.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
major=$("$BIN/python" -c 'import pandas; print(pandas.__version__.split(".")[0])')
if [ "$major" -ge 3 ]; then want="pandas>=2.2,<3"; else want="pandas>=3,<4"; fi
target=$(mktemp -d)
trap 'rm -rf "$target"' EXIT
"$BIN/pip" install --quiet --no-deps --target "$target" "$want" pytz
PYTHONPATH="$target:$PWD" "$BIN/python" -c 'import pandas; print("pandas", pandas.__version__)'
# on two xdist workers as make test runs the suite (PYTEST_WORKERS=0: one process)
PYTHONPATH="$target:$PWD" "$BIN/pytest" -q -p no:cacheprovider \
  -n "${PYTEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder \
  tests/unit/data/test_text_values.py tests/unit/data/test_protected_bands.py \
  tests/unit/test_small_defects.py tests/integration/models/test_adult_like.py \
  tests/integration/models/test_model_misreads.py tests/integration/models/test_audit_properties.py
