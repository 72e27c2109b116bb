"""Headless jobs: the engine (thread pool, retries, cancel, progress) and what runs on it.

- ``engine``    Engine, CancelToken, RetryPolicy, with_retries, is_retryable
- ``events``    JobProgress, PartState, ProgressTracker and the copy events a callback receives
- ``journal``   Journal and JobRecord: every multipart upload mputui creates, until it completes or aborts
- ``copy``      Copier: plan, run, resume and abort copies (``mputui cp``, ``mputui jobs``)
- ``multipart`` one journaled multipart copy job; ``transfer`` server-side vs streamed byte movement
- ``abort``     abort_uploads on the engine, keeping the journal in step
- ``put``       Putter: put local files (``put_plan``: modes, MD5 pass, duplicates → server-side copies)
- ``resume``    Resumer: finish an abandoned upload from its local file (plan, refuse a wrong file, run)
- ``upload``    one journaled multipart upload from a local file; ``localfiles`` tree walk, globs, digests
- ``upload_events`` FilePlanned, PartUploaded, FileUploaded, PutProgress and the PutTracker

Never imports Textual.
"""
