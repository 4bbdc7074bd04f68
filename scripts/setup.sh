#!/usr/bin/env bash
# Build both environments from nothing, idempotently:
#   .venv       the assistant (Python >= 3.11), from uv.lock
#   .venv-rasa  the Rasa NLU server (Python 3.10), from nlu/constraints.txt
# Needs: python3 >= 3.11 and a Python 3.10 (RASA_PYTHON, python3.10 on PATH, or pyenv).
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
UV=.tools/bin/uv
export UV_LINK_MODE=copy UV_NO_PROGRESS=1

python_ok() {  # python_ok BINARY MAJOR.MINOR-PREFIX
  [ -n "$1" ] && "$1" -c "import sys; v='%d.%d' % sys.version_info[:2]; sys.exit(0 if v.startswith('$2') else 1)" 2>/dev/null
}

find_rasa_python() {
  if [ -n "${RASA_PYTHON:-}" ]; then
    python_ok "$RASA_PYTHON" 3.10 || { echo "RASA_PYTHON=$RASA_PYTHON is not a Python 3.10" >&2; exit 2; }
    echo "$RASA_PYTHON"; return
  fi
  local candidate
  for candidate in "$(command -v python3.10 || true)" \
      $(command -v pyenv >/dev/null && ls -d "$(pyenv root)"/versions/3.10*/bin/python3.10 2>/dev/null | sort -V -r) \
      $(ls -d "$HOME"/.pyenv/versions/3.10*/bin/python3.10 2>/dev/null | sort -V -r); do
    # pyenv's shim exists even when 3.10 is not the active version: ask it to run.
    if python_ok "$candidate" 3.10; then echo "$candidate"; return; fi
  done
  echo "No Python 3.10 found (Rasa 3.6 needs 3.8-3.10). Install one (e.g. 'pyenv install 3.10')" \
       "or set RASA_PYTHON=/path/to/python3.10." >&2
  exit 2
}

PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || { echo "$PYTHON is older than 3.11; set PYTHON=/path/to/python3.11" >&2; exit 2; }

if ! "$UV" --version 2>/dev/null | grep -q "$UV_VERSION"; then
  echo "==> installing uv $UV_VERSION into .tools/"
  "$PYTHON" -m venv .tools
  .tools/bin/pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi

echo "==> .venv (assistant) from uv.lock"
"$UV" sync --frozen --python "$PYTHON"

RASA_PY=$(find_rasa_python)
if ! python_ok .venv-rasa/bin/python 3.10; then
  echo "==> .venv-rasa (Rasa NLU) with $RASA_PY"
  rm -rf .venv-rasa
  "$UV" venv --quiet --python "$RASA_PY" .venv-rasa
fi
echo "==> .venv-rasa from nlu/constraints.txt"
"$UV" pip sync --quiet --python .venv-rasa/bin/python nlu/constraints.txt
echo "Setup done. Next: make train, then make chat or make test."
