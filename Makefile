# The verbs a person types. Everything installs what it needs on first use.
SHELL := /bin/bash
BIN := .venv/bin
STAMP := .venv/.installed-stamp
FLASK := $(BIN)/flask --app app
SYSTEM_TEST_PACKAGES := mariadb-server mariadb-client chromium fonts-noto-cjk fail2ban poppler-utils

.PHONY: run test lint docs translations translations-update clean

$(STAMP): pyproject.toml scripts/ensure-venv.sh
	scripts/ensure-venv.sh
	touch $(STAMP)

translations: $(STAMP)
	@$(BIN)/pybabel -q compile -d app/translations -D messages

translations-update: $(STAMP)
	@mkdir -p build
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext -o build/messages.pot --no-location --sort-output .
	$(BIN)/pybabel -q update -i build/messages.pot -d app/translations -D messages --no-fuzzy-matching

run: $(STAMP) translations
	@scripts/ensure-instance.sh
	@$(FLASK) db upgrade 2>&1 | grep -v '^INFO' || true
	@$(FLASK) demo load
	@scripts/run-demo.sh

test: $(STAMP) translations
	@scripts/ensure-system-packages.sh $(SYSTEM_TEST_PACKAGES)
	$(BIN)/ruff check .
	TSUNAGU_REQUIRE_MARIADB=1 TSUNAGU_REQUIRE_BROWSER=1 $(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .

docs: $(STAMP)
	$(BIN)/python -m app.dbdoc docs
	$(BIN)/python -m app.handover.schema docs/handover-schema.json

clean:
	rm -rf build .pytest_cache .ruff_cache
