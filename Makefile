# The verbs a person types. Everything installs what it needs on first use.
SHELL := /bin/bash
BIN := .venv/bin
STAMP := .venv/.installed-stamp
FLASK := $(BIN)/flask --app app
SYSTEM_TEST_PACKAGES := mariadb-server mariadb-client chromium fonts-noto-cjk fail2ban poppler-utils
# the molecule guests: podman with runc (crun fails on these hosts, see containers.conf), debootstrap
INFRA_SYSTEM_PACKAGES := podman runc conmon netavark aardvark-dns catatonit iptables debootstrap

INFRA_STAMP := .venv/.infra-stamp
INVENTORY ?=

.PHONY: run test lint docs translations translations-update clean lint-infra test-infra deploy audit-deps lock audit audit-experiments audit-broken-settings

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

test: $(STAMP) translations lint-infra audit-deps
	@scripts/ensure-system-packages.sh $(SYSTEM_TEST_PACKAGES)
	$(BIN)/ruff check .
	TSUNAGU_REQUIRE_MARIADB=1 TSUNAGU_REQUIRE_BROWSER=1 $(BIN)/pytest
	$(MAKE) --no-print-directory test-infra

# Supply chain (docs/supply-chain.md): pip-audit over requirements.lock, bandit over app/ -> build/audit/
audit-deps: $(STAMP)
	$(BIN)/python -m security.supply_chain

# The auditor's report (docs/audit.md): every check, then build/audit/index.html and controls.xlsx.
# The steps go on after a failure so that the report shows it; the report's exit code decides.
audit: $(INFRA_STAMP) translations
	@scripts/ensure-system-packages.sh $(SYSTEM_TEST_PACKAGES) $(INFRA_SYSTEM_PACKAGES)
	@mkdir -p build/audit && rm -f build/audit/*.xml build/audit/register*.json build/audit/experiments.json
	-$(BIN)/python -m security.supply_chain
	-TSUNAGU_REQUIRE_MARIADB=1 TSUNAGU_REQUIRE_BROWSER=1 $(BIN)/pytest --junitxml=build/audit/app.xml
	-$(BIN)/python -m security.experiments
	-scripts/build-guest-image.sh && PATH=$(CURDIR)/$(BIN):$$PATH CONTAINERS_CONF=$(CURDIR)/containers.conf $(BIN)/molecule test
	args=""; for f in build/audit/infra.xml; do [ -f $$f ] && args="$$args --junit $$f"; done; \
	for f in build/audit/register.json build/audit/register-infra.json; do [ -f $$f ] && args="$$args --register $$f"; done; \
	$(BIN)/python -m security.report --junit build/audit/app.xml $$args --supply build/audit/supply-chain.json --experiments build/audit/experiments.json --out build/audit/

# Defence-removal experiments (docs/audit.md): each IPA category's defence removed in a copy; its checks must turn red.
audit-experiments: $(STAMP)
	$(BIN)/python -m security.experiments

# Broken-setting experiment (docs/audit.md): needs converged molecule guests (molecule test --destroy=never).
audit-broken-settings: $(INFRA_STAMP)
	$(BIN)/python -m security.broken_settings

# Re-resolve requirements.lock from pyproject.toml (ARGS='--upgrade-package jinja2' to take a fix)
lock: $(STAMP)
	$(BIN)/python -m security.supply_chain lock $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

docs: $(STAMP)
	$(BIN)/python -m app.dbdoc docs
	$(BIN)/python -m app.handover.schema docs/handover-schema.json

# --- the appliance (Ansible roles, molecule scenario; docs/install.md) ---
$(INFRA_STAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install -q -e '.[dev,infra]'
	touch $(INFRA_STAMP)

lint-infra: $(INFRA_STAMP)
	$(BIN)/yamllint -s ansible roles inventories molecule .yamllint .ansible-lint
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/ansible-lint

# Builds the guest image when its recipe changed (else reuses it), then
# create -> prepare -> converge -> idempotence -> verify -> destroy.
test-infra: $(INFRA_STAMP)
	@scripts/ensure-system-packages.sh $(INFRA_SYSTEM_PACKAGES)
	scripts/build-guest-image.sh
	PATH=$(CURDIR)/$(BIN):$$PATH CONTAINERS_CONF=$(CURDIR)/containers.conf $(BIN)/molecule test

# make deploy INVENTORY=inventories/production CHECK=1   dry run: --check --diff (do this first)
# make deploy INVENTORY=inventories/production           the real run
# Optional: LIMIT=web (one group or host), ARGS='--ask-vault-pass'
deploy: $(INFRA_STAMP)
	@test -n "$(INVENTORY)" || { echo "usage: make deploy INVENTORY=inventories/<name> [CHECK=1] [LIMIT=...] [ARGS=...]"; exit 2; }
	ANSIBLE_CONFIG=ansible/ansible.cfg PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/ansible-playbook \
	  -i $(INVENTORY) ansible/site.yml $(if $(CHECK),--check --diff) $(if $(LIMIT),--limit $(LIMIT)) $(ARGS)

clean:
	rm -rf build .pytest_cache .ruff_cache
