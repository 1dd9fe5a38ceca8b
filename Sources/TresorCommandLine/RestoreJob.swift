import Foundation
import Synchronization
import TresorCore
public import TresorEngine
import TresorRemote

/// A restore as a job of a served vault (docs/jobs.md, "Restore jobs"): opened when the restore starts,
/// told the bytes done four times a second by a background thread, which also hears of a cancel (`tresor job cancel`)
/// and stops the restore through its progress counter; finished with the outcome. A vault directory has no
/// jobs: a restore from it runs the same, unrecorded, also when the server is down.
public enum RestoreJob {
    public static func run<T>(_ options: VaultOptions, point: OpenedRecoveryPoint, description: String, progress: ProgressCounter,
                              _ body: () throws -> T) throws -> T {
        guard options.isRemote else { return try body() }
        let jobs = try JobAccess.remote(options)
        let vm = point.body.vm
        let job = try jobs.startRestore(RestoreJobRequest(vmName: vm.name, host: vm.host, recoveryPoint: point.body.recoveryPointID,
                                                          description: description))
        let done = Atomic<Bool>(false)
        let reporter = Thread {
            while !done.load(ordering: .relaxed) {
                Thread.sleep(forTimeInterval: 0.25)
                guard !done.load(ordering: .relaxed) else { return }
                let report = JobProgress(bytesDone: progress.bytesDone, bytesTotal: progress.bytesTotal, tasks: [])
                if let answer = try? jobs.progress(jobID: job.id, report), answer.cancel { progress.cancel() }
            }
        }
        reporter.start()
        let result: Result<T, any Error> = Result { try body() }
        done.store(true, ordering: .relaxed)
        let final = JobProgress(bytesDone: progress.bytesDone, bytesTotal: progress.bytesTotal, tasks: [])
        switch result {
        case .success:
            _ = try? jobs.finish(jobID: job.id, JobOutcome(status: .completed, progress: final))
        case .failure(let error):
            var outcome = JobOutcome(failure: error)
            outcome.progress = final
            _ = try? jobs.finish(jobID: job.id, outcome)
        }
        return try result.get()
    }
}
