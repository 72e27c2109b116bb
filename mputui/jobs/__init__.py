"""Headless jobs: the engine (thread pool, retries, cancel, progress) and what runs on it.

- ``engine``    Engine, RetryPolicy, with_retries, is_retryable (cancel with ``mputui.s3.cancel.CancelToken``)
- ``events``    the one event vocabulary (Planned, PartSent, ObjectDone, ObjectSkipped, ObjectFailed, JobAborted,
                JobProgress, RunProgress) over a typed Source (S3Source, FileSource); ProgressTracker, RunTracker
- ``kinds``     JobKind, Action, CopyMethod, PutMethod, Outcome: the names the journal and the JSON hold
- ``journaled`` resume(record, ...): finish any journaled job (copy, put, resume) → a summary with an outcome
- ``journal``   Journal and JobRecord: every multipart upload mputui creates, until it completes or aborts
- ``copy``      Copier: plan, run, resume and abort copies (``mputui cp``, ``mputui jobs``)
- ``multipart`` MultipartJob: the one journaled multipart machine (adopt or create, sync, send, complete)
- ``sources``   what its parts come from: CopyRanges (S3 object ranges), FileChunks (a local file)
- ``transfer``  server-side vs streamed byte movement
- ``abort``     abort_uploads on the engine, keeping the journal in step
- ``put``       Putter: put local files (``put_plan``: modes, MD5 pass, duplicates → server-side copies)
- ``resume``    Resumer: finish an abandoned upload from its local file (plan, refuse a wrong file, run)
- ``upload``    UploadSource, ByteBudget, a small file's PUT, server-side copy; ``localfiles`` walk, globs, digests

Objects (HEAD, listing, ETags) are ``mputui.s3.objects``. Never imports Textual.
"""
