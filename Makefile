# The README's test command is `make test`: every notebook's tests (nbdev_test), then the pytest suite.
.PHONY: test test-slow export check docs-check readme

test:
	nbdev_test --n_workers 2 --timing
	python -m pytest -q tests

test-slow:
	nbdev_test --n_workers 1 --flags slow --timing
	python -m pytest -q tests --runslow

export:
	nbdev_export && nbdev_clean

check: export
	git diff --exit-code -- compact_nb nbs index.ipynb

# README.md is generated from index.ipynb (nbdev_readme needs Quarto, which the docs workflow has).
readme:
	jupyter nbconvert --to markdown --no-prompt --no-input --log-level WARN index.ipynb --output README

# What can be checked of the docs without Quarto: nbdev's processing of every notebook (the docs workflow renders).
docs-check:
	nbdev_proc_nbs && rm -rf _proc
