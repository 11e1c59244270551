"""The console scripts: ``le4nn-train`` (:mod:`le4nn.cli.train`) and ``le4nn-predict``
(:mod:`le4nn.cli.predict`)."""
