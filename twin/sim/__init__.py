"""The simulation: the run loop over ticks, fault injection, checkpoints of the whole state and
the presets that configure a run."""
