"""Action distributions shared by the learners: Gaussians (:mod:`~jaxrl.actors.gaussian`), flow
matching (:mod:`~jaxrl.actors.flow`), diffusion (:mod:`~jaxrl.actors.diffusion`) and the chains of
Gaussian transitions under the last two (:mod:`~jaxrl.actors.chain`); losses stay in the learners."""
