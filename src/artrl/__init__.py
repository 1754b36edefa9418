"""artrl: learned timestep schedules for diffusion sampling (ART / ART-RL, arXiv 2601.18681)."""

__version__ = "0.1.0"
