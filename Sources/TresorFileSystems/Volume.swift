import TresorCore

/// Opening a guest file system on a disk: the partition table, the partition chosen, the file system found
/// there, and paths inside it.
public enum Volume {
    /// The file system of `partition` (1-based) of `disk`, or of the whole disk when it has no partition
    /// table; with a table and no partition chosen, its only partition.
    public static func open(_ disk: any BlockSource, partition number: Int?) throws -> (table: PartitionTable, tree: any FileTree) {
        let table = try PartitionTable.read(disk)
        let source: any BlockSource
        switch (table.scheme, number) {
        case (.none, nil):
            source = disk
        case (.none, let number?):
            throw TresorError(.invalidArgument, "the disk has no partition table, so no partition \(number)", action: "leave out --partition")
        case (_, nil):
            guard table.partitions.count == 1 else {
                throw TresorError(.invalidArgument, "the disk has \(table.partitions.count) partitions (\(table.scheme.rawValue))",
                                  action: "choose one with --partition N ('tresor-restore browse' lists them)")
            }
            source = try SliceSource(disk, offset: table.partitions[0].start, size: table.partitions[0].size)
        case (_, let number?):
            guard let partition = table.partitions.first(where: { $0.number == number }) else {
                throw TresorError(.invalidArgument, "the disk has no partition \(number); it has \(table.partitions.map { String($0.number) }.joined(separator: ", "))")
            }
            source = try SliceSource(disk, offset: partition.start, size: partition.size)
        }
        return (table, try self.fileSystem(on: source))
    }

    /// The file systems this reader knows, tried by their signatures.
    static func fileSystem(on source: any BlockSource) throws -> any FileTree {
        if source.size >= 2048, let magic = try? source.bytes(at: 1024 + 56, count: 2), magic == [0x53, 0xEF] {
            return try Ext4(source)
        }
        if source.size >= 512, let boot = try? source.bytes(at: 0, count: 512), PartitionTable.looksLikeFATBootSector(boot) {
            return try FAT(source)
        }
        throw TresorError(.fileSystemUnsupported, "no file system this tool reads (ext2/3/4, FAT12/16/32) on this volume")
    }

    /// The entry at an absolute path, without following symlinks on the way (a symlink named last is
    /// returned as itself).
    public static func find(_ path: String, in tree: any FileTree) throws -> FileEntry {
        var entry = tree.root
        let components = path.split(separator: "/").map(String.init).filter { $0 != "." }
        guard components.count <= 4096 else { throw TresorError(.invalidArgument, "path \(path) is too deep") }
        for (index, component) in components.enumerated() {
            guard component != ".." else { throw TresorError(.invalidArgument, "paths are absolute inside the guest, without '..'") }
            guard entry.kind == .directory else {
                throw TresorError(.pathNotFound, "/\(components[0..<index].joined(separator: "/")) is a \(entry.kind.rawValue), not a directory")
            }
            guard let next = try tree.list(entry).first(where: { $0.name == component }) else {
                throw TresorError(.pathNotFound, "no /\(components[0...index].joined(separator: "/")) in the guest's file system")
            }
            entry = next
        }
        return entry
    }
}
