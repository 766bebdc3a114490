"""The checks of ``toolkit audit``: each reads the run's shared outputs and returns a
:class:`~toolkit.audit.verdicts.CheckResult` with a verdict (:mod:`toolkit.audit.verdicts`).

- :mod:`toolkit.audit.performance`: accuracy, balanced accuracy, per-class recall, MCC,
  confusion;
- :mod:`toolkit.audit.calibration`: ECE, class-wise ECE, Brier, NLL, the reliability
  diagram, temperature scaling fitted on a validation half of the test split;
- :mod:`toolkit.audit.robustness`: AutoAttack (images), a PGD curve and the sanity checks;
- :mod:`toolkit.audit.text`: text models' robustness (augmentations) and fairness (the
  gender-bias probes);
- :mod:`toolkit.audit.ood`: every detector against held-out classes and OOD data sets;
- :mod:`toolkit.audit.fairness`: group metrics per sensitive attribute and intersection;
- :mod:`toolkit.audit.explanations`: attributions and the model-randomization sanity check;
- :mod:`toolkit.audit.backdoor`: Neural Cleanse on the model alone;
  :mod:`toolkit.audit.backdoor_data`: STRIP on the test inputs and the training-data screens;
- :mod:`toolkit.audit.card`: the model card.
"""
