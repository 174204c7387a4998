# EdgePilot: `make demo` and `make test` work on a fresh clone (they create .venv and install what is needed).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test install bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@{ command -v espeak-ng && command -v sphinx_fe && command -v pocketsphinx_mdef_convert && test -x /usr/lib/sphinxtrain/bw; } >/dev/null \
	  || { echo "installing Debian packages: espeak-ng (the cockpit's speech output), sphinxtrain, sphinxbase-utils, pocketsphinx (speaker adaptation)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq espeak-ng sphinxtrain sphinxbase-utils pocketsphinx; } \
	  || { echo "could not install espeak-ng sphinxtrain sphinxbase-utils pocketsphinx: install them with your package manager"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/edgepilot demo --out out

test: $(STAMP)
	$(PY) -m pytest -q

# The benchmarks that run on their own (each prints a table). The studies in benchmarks/ that take a dataset or a
# checkpoint (closed_loop_trace, lane_blend_eval, lead_response, lead_sources, open_loop_collisions,
# plan_error_breakdown) are run by hand with the commands in perception/MODEL.md.
BENCHES := sim_bench camera_bench can_bench dds_bench ros_bench perception_bench cockpit_bench ha_intents_probe \
	endpoint_eval vad_noise_eval int8_profile

bench: $(STAMP)
	for b in $(BENCHES); do echo "== benchmarks/$$b.py"; $(PY) benchmarks/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) out build *.egg-info .pytest_cache
