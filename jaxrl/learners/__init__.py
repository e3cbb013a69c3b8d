"""The learners, one module each exposing ``FACTORY``; the contract is :mod:`jaxrl.learners.base`
and the registry of names :mod:`jaxrl.registry`."""
