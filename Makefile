# The two commands the README starts with: `make run` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
# The seeded scale database of bench/http_bench.py, kept between runs (seeding takes minutes).
BENCH_HTTP_DB ?= expertdraw_bench_http
export FLASK_APP := expertdraw

.PHONY: run test install install-dev lint format bench soak clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'

run: install
	EXPERTDRAW_DEMO=1 $(BIN)/flask init
	EXPERTDRAW_DEMO=1 $(BIN)/flask seed
	EXPERTDRAW_DEMO=1 $(BIN)/flask demo-logins
	EXPERTDRAW_DEMO=1 EXPERTDRAW_SCHEDULER=1 $(BIN)/flask run --host $(HOST) --port $(PORT)

test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install-dev
	mkdir -p bench/out
	$(BIN)/python bench/draw_bench.py --out bench/out/draw.json
	$(BIN)/python bench/ledger_db_bench.py --out bench/out/ledger_db.json
	$(BIN)/python bench/ledger_bench.py --out bench/out/ledger.json
	$(BIN)/python bench/pool_bench.py --out bench/out/pool.json
	$(BIN)/python bench/http_bench.py --database $(BENCH_HTTP_DB) --out bench/out/http.json
	$(BIN)/python bench/page_bench.py --out bench/out/page.json

soak: install-dev
	$(BIN)/python bench/soak.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
