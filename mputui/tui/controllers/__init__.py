"""The app's behaviour, one concern per module: scanning, the uploads view, abort, commit, jobs.

Controllers are plain objects holding a reference to the app. Blocking work runs in the app's thread workers
and comes back as messages; the app's message handlers delegate here.
"""
