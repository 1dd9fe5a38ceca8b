public import TresorCore

/// Restore jobs (docs/jobs.md, "Restore jobs"): `tresor-restore`, run against a served vault, opens a job
/// that is in progress at once, reports its bytes, learns of a cancel in the answer, and reports how it ended.
/// They take no agent's slot; a tool silent for `silenceMillis` has died, and its job fails.
extension JobQueue {
    public static let restoreSilenceMillis: Int64 = 10 * 60_000

    public func startRestore(_ request: RestoreJobRequest, now: Int64) throws -> JobRecord {
        guard try self.vault.catalog.recoveryPoint(id: request.recoveryPoint) != nil else {
            throw TresorError(.notFound, "no recovery point \(request.recoveryPoint)")
        }
        var job = JobRecord(id: JobQueue.newID(), kind: .restore, trigger: .onDemand, vmName: request.vmName, host: request.host, createdAtMillis: now)
        job.status = .inProgress
        job.startedAtMillis = now
        job.lastReportAtMillis = now
        job.recoveryPoint = request.recoveryPoint
        job.message = request.description
        job.tasks = [JobTask(name: "transfer", status: .inProgress, startedAtMillis: now)]
        try self.store.insert(job)
        return job
    }

    /// A restore job's progress; the answer says whether it was cancelled meanwhile.
    public func restoreProgress(jobID: String, _ progress: JobProgress, now: Int64) throws -> JobProgressAnswer {
        try self.withJobs {
            var job = try self.restoreJob(jobID)
            guard !job.status.isFinished else { return JobProgressAnswer(cancel: true) }
            job.bytesDone = progress.bytesDone
            job.bytesTotal = progress.bytesTotal
            job.lastReportAtMillis = now
            try self.store.update(job)
            return JobProgressAnswer(cancel: job.status == .cancelling)
        }
    }

    public func finishRestore(jobID: String, _ outcome: JobOutcome, now: Int64) throws -> JobRecord {
        guard outcome.status.isFinished else {
            throw TresorError(.requestInvalid, "a job ends completed, failed or cancelled, not \(outcome.status.rawValue)")
        }
        return try self.withJobs {
            var job = try self.restoreJob(jobID)
            guard !job.status.isFinished else { return job }
            job.status = outcome.status
            job.endedAtMillis = now
            job.errorCode = outcome.errorCode
            if let message = outcome.message { job.message = (job.message.map { $0 + ": " } ?? "") + message }
            job.action = outcome.action
            if let progress = outcome.progress {
                job.bytesDone = progress.bytesDone
                job.bytesTotal = progress.bytesTotal
            }
            job.tasks = job.tasks.map { var task = $0; task.status = outcome.status; task.endedAtMillis = now; return task }
            try self.store.update(job)
            return job
        }
    }

    private func restoreJob(_ id: String) throws -> JobRecord {
        guard let job = try self.store.job(id: id), job.kind == .restore else { throw TresorError(.jobNotFound, "no restore job \(id)") }
        return job
    }

    /// Restore jobs whose tool stopped reporting: failed (or cancelled, if a cancel was asked).
    func expireRestores(now: Int64) throws {
        for status in [JobStatus.inProgress, .cancelling] {
            for var job in try self.store.jobs(JobFilter(kind: .restore, status: status))
            where now - (job.lastReportAtMillis ?? job.createdAtMillis) > Self.restoreSilenceMillis {
                job.end(job.status == .cancelling ? .cancelled : .failed, .unreachable,
                        "the restore tool stopped reporting (killed, or its connection lost)",
                        action: "run the restore again; a rollback can be finished with --resume", at: now)
                try self.store.update(job)
            }
        }
    }
}
