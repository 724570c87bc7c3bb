"""The parts of `bench/upstream.py`: the fronts and the scale of a run (``scale``), a run's
processes (``fronts``), its three phases (``phases``), runs and rounds (``runs``) and the
section (``tables``)."""
