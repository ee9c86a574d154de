# zkbox: the two commands a fresh machine needs are `make run` and `make test`.
# Both run scripts/setup.sh first; it returns at once when everything is installed.

CARGO ?= cargo

.PHONY: run test setup build lint unit guests

## run: install what is missing, build the release binary, start the appliance on loopback
run: setup
	$(CARGO) build --release --locked --bin zkbox
	./target/release/zkbox serve

## test: install what is missing, then format check, clippy and the whole test suite
test: setup lint unit

setup:
	@scripts/setup.sh

build: setup
	$(CARGO) build --workspace --all-targets --locked

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

## guests: build the RV32IM guests (executor/guest/) into target/guests/ with Debian's toolchain
guests:
	scripts/build-guests.sh

unit: guests
	$(CARGO) test --workspace --locked
