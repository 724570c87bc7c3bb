"""The parts of `bench/serving.py`: the engines it starts (``engines``), the client that
drives them (``client``), prompts of a given size (``prompts``), the rounds and section
lines every workload shares (``context``), and one module per workload."""
