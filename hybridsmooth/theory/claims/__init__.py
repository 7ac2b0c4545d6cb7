"""The numbered checks of THEORY 7, one claim per module (the shape of PEPit's one-file-per-theorem examples).

Every module ``checkNN_<name>.py`` holds, for one numbered check:

* its statement, with the THEORY section it comes from, in the module docstring;
* ``KEY`` (the number ``hybridsmooth check --only`` takes), ``TITLE``, ``SUMMARY`` (the instance and what is
  measured; the report's paragraph starts from it) and ``FIGURES`` (names of ``figures/<name>.png``);
* ``run(size, seeds) -> list[CheckResult]``: ``size`` is "fast" or "full", ``seeds`` overrides the seed count;
  each row carries the verdict it is expected to have (``CheckResult.expected``), decided where the row is made;
* ``report_sentence(rows) -> str``: the check's numbers for the report paragraph ("" when there are none);
  optionally ``report_notes(rows) -> list[str]``: lines written after the paragraph (check 5's counterexamples).

``theory.suite`` lists the modules; adding a check is one new module here and one line there.
"""
