"""The 2022 sample year: the article's year, replayed through the services' public commands.

- ``generator.plan_year(seed)``: a pure, seeded plan — every command a clerk would have sent
  in 2022 (units, enrolments, transfers, retirements, core flags, conferences scheduled,
  held or cancelled, attendance and guest headcounts, the 9 December awards), in the order
  the world produced them. Its year-end figures are the article's: 19 reporters, 189
  propagandists, 08 information (the December one also the review) and 02 thematic
  conferences, 1,701–1,799 member attendances, 3 collective and 5 individual awards.
- ``load.load_plan``: sends the plan over NATS request/reply; batches in order, aggregates of
  a batch in parallel, one aggregate's commands in sequence. Command ids are
  ``demo-<seed>-<step>``, so a re-run (or a resumed, interrupted run) replays.
- ``run.show_demo``: ``briefings up --demo`` — loads into an empty store, waits until
  reporting has read every stream to its end, prints the annual summary (vi, en).

Why commands and not events: the sample year must pass the same rules as a clerk's input,
so the summary it shows is evidence that the system computes the article's figures.
"""
