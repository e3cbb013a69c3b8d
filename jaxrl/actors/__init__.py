"""Action distributions shared by learners: tanh-squashed Gaussians here; flow and diffusion
actors join this package."""
