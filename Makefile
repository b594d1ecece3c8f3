# curate: `make demo` sets everything up and runs the demo; `make test` runs the test suite.
# Torch is installed deliberately, before the package: the CPU build by default (CI, laptops).
#   GPU users: install the CUDA build of torch into .venv first, or point TORCH_PIP_ARGS at the
#   index you use; `make setup` keeps a torch that is already importable.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
# mosaicml-streaming (the MDS export's read-back test) pins numpy<2.2 and transformers<5: installed
# after .[dev] without its dependencies (pyproject's dev extra holds the modules its reader needs).
MDS_SPEC ?= mosaicml-streaming>=0.13,<0.14
DEMO_DATA ?= out/demo-data
DEMO_SCALE ?= 1.0
CURATE := $(BIN)/curate
DEMO_PIPELINES := web books code dedup
export CURATE_DATA := $(DEMO_DATA)

.PHONY: setup demo demo-data test test-slow test-fault test-all lint docs bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m pip install -q --no-deps "$(MDS_SPEC)"
	touch $@

demo-data: setup
	$(CURATE) demo-data $(DEMO_DATA) --scale $(DEMO_SCALE)

# The demo regenerates its data, so every step starts over (--force); a real pipeline resumes.
demo: demo-data
	@for p in $(DEMO_PIPELINES); do \
	  echo "== pipeline $$p"; \
	  $(CURATE) run pipelines/$$p.yaml -o out/demo/$$p --force || exit $$?; \
	done
	@if [ -f pipelines/sft.yaml ] || [ -f pipelines/mix.yaml ]; then \
	  echo "== tokenizer"; \
	  $(CURATE) tokenizer train out/demo/web/data out/demo/books/data out/demo/code/data -o out/demo/tokenizer --vocab-size 4096 || exit $$?; \
	fi
	@for p in mix sft; do \
	  if [ -f pipelines/$$p.yaml ]; then echo "== pipeline $$p"; $(CURATE) run pipelines/$$p.yaml -o out/demo/$$p --force || exit $$?; fi; \
	done
	@if [ -d out/demo/mix/data ] && [ -d out/demo/sft/data/sft ]; then \
	  echo "== train: pretrain tiny on the mix, then SFT on the chat shards (CPU smoke run)"; \
	  rm -rf out/demo/run-pretrain out/demo/run-sft; \
	  $(CURATE) train pretrain --data out/demo/mix/data --tokenizer out/demo/tokenizer --preset tiny \
	    --steps 100 --batch-size 8 --lr 3e-3 --log-interval 25 --eval-interval 100 -o out/demo/run-pretrain || exit $$?; \
	  $(CURATE) train sft --data out/demo/sft/data/sft --from out/demo/run-pretrain \
	    --steps 200 --batch-size 16 --lr 3e-3 --log-interval 50 --eval-interval 200 -o out/demo/run-sft || exit $$?; \
	  echo "== chat with the SFT model (a ~1M-parameter model after 200 CPU steps: a smoke run)"; \
	  $(CURATE) chat out/demo/run-sft --message "What is 12 plus 30?" --max-new-tokens 24 || exit $$?; \
	fi
	@echo; echo "demo outputs:"; ls -d out/demo/*/; echo "look inside with: $(CURATE) inspect out/demo/web (or open out/demo/web/report.html)"

test: setup
	$(BIN)/python -m pytest -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

test-fault: setup
	$(BIN)/python -m pytest -q -m fault

test-all: setup
	$(BIN)/python -m pytest -q -m ""

lint: setup
	$(BIN)/ruff check curate filters train tests bench

docs: setup
	$(CURATE) stages --markdown > docs/REFERENCE.md

bench: setup
	$(BIN)/python -m bench.engine

clean:
	rm -rf out .pytest_cache .ruff_cache
