"""The personalization container: Amazon Personalize's recipes under the SageMaker contract.

``train`` runs a solution-version job; ``data`` reads the channels and applies
the solution's event filters and weights; ``catalog`` and ``features`` turn
them into arrays; ``popularity``, ``cooccurrence`` and ``deep`` are the
recipes; ``hpo`` is performHPO; ``evaluation`` is Amazon's split and metrics.
The model files are read back by ``augury_training.recommender_artifacts``.
"""
