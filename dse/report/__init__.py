"""Reports on dse studies: figure data (pure, `figures`), drawing (`draw`), writers (`write`).

The split follows `optuna.visualization`: each figure's data comes from a pure function that tests can check
without pixels, and drawing only turns that data into matplotlib figures.
"""
