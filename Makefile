.PHONY: demo test lint typecheck fmt check

demo:        ## seeded demo on http://127.0.0.1:8000
	bash scripts/demo.sh

test:        ## lint, types, all tests on SQLite and PostgreSQL
	bash scripts/test.sh

lint:
	.venv/bin/ruff check src tests bench

typecheck:
	.venv/bin/mypy

fmt:
	.venv/bin/ruff format src tests bench
	.venv/bin/ruff check --fix src tests bench

check: lint typecheck
	CALLVAULT_TEST_DB=sqlite .venv/bin/pytest -q
