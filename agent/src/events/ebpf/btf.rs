//! Kernel struct field offsets from the kernel's BTF (`<sys>/kernel/btf/vmlinux`), for the eBPF
//! programs, which have no CO-RE relocations in Rust.
//!
//! A small reader of the BTF type section rather than a crate: aya-obj keeps its member accessors
//! crate-private and btf-rs is LGPL. Only what offsets need is decoded: names, struct/union members
//! (through anonymous members), enum values and the prototypes of a tracepoint or kernel function.

use std::path::{Path, PathBuf};

use agent_common::Offsets;

#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    #[error("read kernel BTF {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parse kernel BTF: {0}")]
    Format(&'static str),
    #[error("kernel BTF has no {kind} `{name}`")]
    MissingType { kind: &'static str, name: String },
    #[error("kernel BTF: `{ty}` has no member `{member}`")]
    MissingMember {
        ty: &'static str,
        member: &'static str,
    },
}

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

/// A parsed BTF blob: the raw bytes plus where each type id's record starts.
pub struct Btf {
    data: Vec<u8>,
    strings: usize,
    strings_end: usize,
    /// Byte offset in `data` of type id `i + 1` (id 0 is `void`).
    types: Vec<usize>,
}

#[derive(Clone, Copy)]
struct Type {
    name_off: u32,
    kind: u32,
    vlen: usize,
    kind_flag: bool,
    size_or_type: u32,
    at: usize,
}

impl Btf {
    pub fn read(path: &Path) -> Result<Self, BtfError> {
        let data = std::fs::read(path).map_err(|source| BtfError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(data)
    }

    /// Parses a little-endian BTF blob (as in `/sys/kernel/btf/vmlinux`).
    pub fn parse(data: Vec<u8>) -> Result<Self, BtfError> {
        let u16_at = |o: usize| data.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
        if u16_at(0) != Some(0xeb9f) {
            return Err(BtfError::Format("bad magic (not little-endian BTF)"));
        }
        let hdr = |o| {
            u32_at(&data, o)
                .map(|v| v as usize)
                .ok_or(BtfError::Format("short header"))
        };
        let hdr_len = hdr(4)?;
        let (type_off, type_len, str_off, str_len) = (hdr(8)?, hdr(12)?, hdr(16)?, hdr(20)?);
        let types_start = hdr_len + type_off;
        let types_end = types_start + type_len;
        let strings = hdr_len + str_off;
        if types_end > data.len() || strings + str_len > data.len() {
            return Err(BtfError::Format("sections out of bounds"));
        }
        let mut btf = Self {
            strings,
            strings_end: strings + str_len,
            types: Vec::new(),
            data,
        };
        let mut at = types_start;
        while at < types_end {
            btf.types.push(at);
            let t = btf.type_at(at)?;
            let extra = match t.kind {
                KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
                KIND_ARRAY => 12,
                KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => 12 * t.vlen,
                KIND_ENUM | KIND_FUNC_PROTO => 8 * t.vlen,
                k if k <= 20 => 0,
                _ => return Err(BtfError::Format("unknown type kind")),
            };
            at += 12 + extra;
        }
        Ok(btf)
    }

    fn type_at(&self, at: usize) -> Result<Type, BtfError> {
        let f = |o| u32_at(&self.data, at + o).ok_or(BtfError::Format("truncated type"));
        let info = f(4)?;
        Ok(Type {
            name_off: f(0)?,
            kind: (info >> 24) & 0x1f,
            vlen: (info & 0xffff) as usize,
            kind_flag: info >> 31 == 1,
            size_or_type: f(8)?,
            at,
        })
    }

    fn by_id(&self, id: u32) -> Result<Type, BtfError> {
        let at = (id as usize)
            .checked_sub(1)
            .and_then(|i| self.types.get(i))
            .ok_or(BtfError::Format("type id out of range"))?;
        self.type_at(*at)
    }

    fn name(&self, off: u32) -> &[u8] {
        let start = self.strings + off as usize;
        let tail = self.data.get(start..self.strings_end).unwrap_or_default();
        tail.split(|b| *b == 0).next().unwrap_or_default()
    }

    /// Follows typedefs and qualifiers.
    fn resolve(&self, mut id: u32) -> Result<Type, BtfError> {
        for _ in 0..32 {
            let t = self.by_id(id)?;
            match t.kind {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    id = t.size_or_type
                }
                _ => return Ok(t),
            }
        }
        Err(BtfError::Format("type chain too long"))
    }

    fn find(&self, kind: u32, name: &str) -> Option<Type> {
        self.types
            .iter()
            .filter_map(|at| self.type_at(*at).ok())
            .find(|t| t.kind == kind && self.name(t.name_off) == name.as_bytes())
    }

    fn find_struct(&self, name: &'static str) -> Result<Type, BtfError> {
        // A forward declaration of the same name has kind FWD, so this finds the definition.
        self.find(KIND_STRUCT, name).ok_or(BtfError::MissingType {
            kind: "struct",
            name: name.into(),
        })
    }

    /// Byte offset of `member` in struct/union `t`, looking inside anonymous struct/union members
    /// down to `depth` levels: a corrupt blob can make a struct its own anonymous member.
    fn member_in(&self, t: Type, member: &str, depth: u32) -> Result<Option<u32>, BtfError> {
        let Some(depth) = depth.checked_sub(1) else {
            return Err(BtfError::Format("anonymous members nested too deep"));
        };
        for i in 0..t.vlen {
            let m = t.at + 12 + 12 * i;
            let f = |o| u32_at(&self.data, m + o).ok_or(BtfError::Format("truncated member"));
            let (name_off, ty, raw_off) = (f(0)?, f(4)?, f(8)?);
            // With kind_flag the low 24 bits are the bit offset and the high 8 the bitfield size.
            let bits = if t.kind_flag {
                raw_off & 0x00ff_ffff
            } else {
                raw_off
            };
            let name = self.name(name_off);
            if name == member.as_bytes() {
                return Ok(Some(bits / 8));
            }
            if name.is_empty() {
                let inner = self.resolve(ty)?;
                if matches!(inner.kind, KIND_STRUCT | KIND_UNION)
                    && let Some(o) = self.member_in(inner, member, depth)?
                {
                    let at = (bits / 8)
                        .checked_add(o)
                        .ok_or(BtfError::Format("member offset out of range"))?;
                    return Ok(Some(at));
                }
            }
        }
        Ok(None)
    }

    pub fn member_offset(&self, ty: &'static str, member: &'static str) -> Result<u32, BtfError> {
        let t = self.find_struct(ty)?;
        self.member_in(t, member, MAX_ANONYMOUS_NESTING)?
            .ok_or(BtfError::MissingMember { ty, member })
    }

    /// Value of enumerator `name` in enum `ty`.
    pub fn enum_value(&self, ty: &'static str, name: &'static str) -> Result<i64, BtfError> {
        let t = self
            .find(KIND_ENUM, ty)
            .or_else(|| self.find(KIND_ENUM64, ty))
            .ok_or(BtfError::MissingType {
                kind: "enum",
                name: ty.into(),
            })?;
        let step = if t.kind == KIND_ENUM { 8 } else { 12 };
        for i in 0..t.vlen {
            let e = t.at + 12 + step * i;
            let f = |o| u32_at(&self.data, e + o).ok_or(BtfError::Format("truncated enum"));
            if self.name(f(0)?) == name.as_bytes() {
                return Ok(if t.kind == KIND_ENUM {
                    i64::from(f(4)? as i32)
                } else {
                    (u64::from(f(8)?) << 32 | u64::from(f(4)?)) as i64
                });
            }
        }
        Err(BtfError::MissingMember { ty, member: name })
    }

    /// Offset of per-CPU variable `name` in the `.data..percpu` section (its BTF `DATASEC`).
    pub fn percpu_var_offset(&self, name: &'static str) -> Result<u32, BtfError> {
        let missing = || BtfError::MissingType {
            kind: "per-CPU variable",
            name: name.into(),
        };
        let sec = self
            .types
            .iter()
            .filter_map(|at| self.type_at(*at).ok())
            .find(|t| t.kind == KIND_DATASEC && self.name(t.name_off) == b".data..percpu")
            .ok_or_else(missing)?;
        for i in 0..sec.vlen {
            let v = sec.at + 12 + 12 * i;
            let f = |o| u32_at(&self.data, v + o).ok_or(BtfError::Format("truncated datasec"));
            let var = self.by_id(f(0)?)?;
            if var.kind == KIND_VAR && self.name(var.name_off) == name.as_bytes() {
                return f(4);
            }
        }
        Err(missing())
    }

    /// Whether tracepoint `tp`'s argument `n` (0-based, after the hidden context) is a pointer to
    /// `struct <target>`: read from the `btf_trace_<tp>` typedef, a pointer to a function prototype.
    pub fn tracepoint_arg_is_struct_ptr(&self, tp: &str, n: usize, target: &str) -> bool {
        let check = || -> Result<bool, BtfError> {
            let Some(td) = self.find(KIND_TYPEDEF, &format!("btf_trace_{tp}")) else {
                return Ok(false);
            };
            let ptr = self.resolve(td.size_or_type)?;
            if ptr.kind != KIND_PTR {
                return Ok(false);
            }
            self.param_is_struct_ptr(ptr.size_or_type, n + 1, target)
        };
        check().unwrap_or(false)
    }

    /// Number of arguments tracepoint `tp` passes (after the hidden context), from its
    /// `btf_trace_<tp>` typedef; `None` when the kernel has no such tracepoint.
    pub fn tracepoint_params(&self, tp: &str) -> Option<usize> {
        let td = self.find(KIND_TYPEDEF, &format!("btf_trace_{tp}"))?;
        let ptr = self.resolve(td.size_or_type).ok()?;
        let proto = self.resolve(ptr.size_or_type).ok()?;
        (ptr.kind == KIND_PTR && proto.kind == KIND_FUNC_PROTO)
            .then(|| proto.vlen.saturating_sub(1))
    }

    /// Whether kernel function `func` is in BTF (so not inlined away: fentry can attach) and its
    /// argument `n` (0-based) is a pointer to `struct <target>`.
    pub fn function_arg_is_struct_ptr(&self, func: &str, n: usize, target: &str) -> bool {
        let check = || -> Result<bool, BtfError> {
            let Some(f) = self.find(KIND_FUNC, func) else {
                return Ok(false);
            };
            self.param_is_struct_ptr(f.size_or_type, n, target)
        };
        check().unwrap_or(false)
    }

    /// Whether parameter `i` of function prototype `proto_id` is a `struct <target> *`.
    fn param_is_struct_ptr(&self, proto_id: u32, i: usize, target: &str) -> Result<bool, BtfError> {
        let proto = self.resolve(proto_id)?;
        if proto.kind != KIND_FUNC_PROTO || proto.vlen < i + 1 {
            return Ok(false);
        }
        let param_ty = u32_at(&self.data, proto.at + 12 + 8 * i + 4)
            .ok_or(BtfError::Format("truncated prototype"))?;
        let p = self.resolve(param_ty)?;
        if p.kind != KIND_PTR {
            return Ok(false);
        }
        let s = self.resolve(p.size_or_type)?;
        Ok(s.kind == KIND_STRUCT && self.name(s.name_off) == target.as_bytes())
    }

    /// The offsets the programs in `agent-ebpf` read. They move between kernels and configs; as
    /// measured (bytes):
    ///
    /// | field | 6.1.192 Debian cloud | 6.18 development VM |
    /// |---|---|---|
    /// | `task_struct::pid` / `comm` / `cgroups` | 2416 / 2976 / 3600 | 1264 / 1752 / 2376 |
    /// | `css_set::subsys[memory]` / `dfl_cgrp` | 32 / 128 | 32 / 112 |
    /// | `cgroup::kn` / `level` / `root` | 248 / 208 / 656 | 256 / 216 / 696 |
    /// | `cgroup_root::hierarchy_id` | 12 | 12 |
    /// | `kernfs_node::id` | 104 | 96 |
    ///
    /// (`cargo xtask test-vm` prints the guest's line; `--log_level=bpfadvisor::events::ebpf=debug`
    /// logs them.) The prototypes the programs rely on are the same on both: `cgroup_mkdir` and
    /// `cgroup_rmdir` `(struct cgroup *, const char *)`, `mark_victim` `(struct task_struct *,
    /// uid_t)` (6.1 through the 6.1.130 stable backport; upstream 6.1 passed `int pid`) and
    /// `mark_oom_victim(struct task_struct *)`.
    pub fn offsets(&self) -> Result<Offsets, BtfError> {
        let memory_id = self.enum_value("cgroup_subsys_id", "memory_cgrp_id")?;
        let subsys = self.member_offset("css_set", "subsys")?;
        Ok(Offsets {
            valid: 1,
            task_pid: self.member_offset("task_struct", "pid")?,
            task_comm: self.member_offset("task_struct", "comm")?,
            task_cgroups: self.member_offset("task_struct", "cgroups")?,
            // `subsys` is an array of pointers indexed by subsystem id.
            css_set_memory: u32::try_from(memory_id)
                .ok()
                .and_then(|id| id.checked_mul(8))
                .and_then(|o| o.checked_add(subsys))
                .ok_or(BtfError::Format("memory_cgrp_id out of range"))?,
            css_set_dfl_cgrp: self.member_offset("css_set", "dfl_cgrp")?,
            css_cgroup: self.member_offset("cgroup_subsys_state", "cgroup")?,
            cgroup_kn: self.member_offset("cgroup", "kn")?,
            cgroup_level: self.member_offset("cgroup", "level")?,
            cgroup_root: self.member_offset("cgroup", "root")?,
            cgroup_root_hierarchy_id: self.member_offset("cgroup_root", "hierarchy_id")?,
            kernfs_node_id: self.member_offset("kernfs_node", "id")?,
        })
    }
}

/// Levels of anonymous struct/union members searched for a member (the kernel's own structs nest a
/// few).
const MAX_ANONYMOUS_NESTING: u32 = 16;

fn u32_at(data: &[u8], o: usize) -> Option<u32> {
    data.get(o..o + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a BTF blob by hand, as `pahole` would lay out these few types.
    #[derive(Default)]
    struct Builder {
        types: Vec<u8>,
        strings: Vec<u8>,
        next_id: u32,
    }

    impl Builder {
        fn new() -> Self {
            Self {
                strings: vec![0],
                next_id: 1,
                ..Default::default()
            }
        }
        fn s(&mut self, name: &str) -> u32 {
            if name.is_empty() {
                return 0;
            }
            let off = self.strings.len() as u32;
            self.strings.extend_from_slice(name.as_bytes());
            self.strings.push(0);
            off
        }
        fn ty(
            &mut self,
            name: &str,
            kind: u32,
            vlen: u32,
            kflag: bool,
            st: u32,
            extra: &[u32],
        ) -> u32 {
            let n = self.s(name);
            let info = (u32::from(kflag) << 31) | (kind << 24) | vlen;
            for w in [n, info, st].iter().chain(extra) {
                self.types.extend_from_slice(&w.to_le_bytes());
            }
            self.next_id += 1;
            self.next_id - 1
        }
        fn build(self) -> Vec<u8> {
            let mut out = Vec::new();
            out.extend_from_slice(&0xeb9fu16.to_le_bytes());
            out.extend_from_slice(&[1, 0]);
            for w in [24, 0, self.types.len() as u32, self.types.len() as u32] {
                out.extend_from_slice(&w.to_le_bytes());
            }
            out.extend_from_slice(&(self.strings.len() as u32).to_le_bytes());
            out.extend(self.types);
            out.extend(self.strings);
            out
        }
    }

    #[test]
    fn a_struct_that_is_its_own_anonymous_member_is_an_error_not_a_stack_overflow() {
        // Found by the `btf` fuzz target: the search into anonymous members recursed forever.
        let mut b = Builder::new();
        let int = b.ty("int", KIND_INT, 0, false, 4, &[32]);
        let pid = b.s("pid");
        // Type 2 (this one): an anonymous member of type 2, then `pid`.
        b.ty(
            "task_struct",
            KIND_STRUCT,
            2,
            false,
            8,
            &[0, 2, 0, pid, int, 32],
        );
        let btf = Btf::parse(b.build()).expect("valid blob");
        assert!(matches!(
            btf.member_offset("task_struct", "comm"),
            Err(BtfError::Format(_))
        ));
    }

    #[test]
    fn finds_members_through_anonymous_structs_and_bitfield_offsets() {
        let mut b = Builder::new();
        let int = b.ty("int", KIND_INT, 0, false, 4, &[32]);
        let (pid, comm) = (b.s("pid"), b.s("comm"));
        // struct { int pid; int comm; } at bit 64 of task_struct, as with randomized_struct_fields.
        let anon = b.ty("", KIND_STRUCT, 2, false, 8, &[pid, int, 0, comm, int, 32]);
        let flags = b.s("flags");
        let anon_m = 0;
        // kind_flag set: offsets carry a bitfield size in the high byte.
        b.ty(
            "task_struct",
            KIND_STRUCT,
            2,
            true,
            16,
            &[flags, int, 1 << 24, anon_m, anon, 64],
        );
        let btf = Btf::parse(b.build()).expect("valid blob");
        assert_eq!(btf.member_offset("task_struct", "pid").ok(), Some(8));
        assert_eq!(btf.member_offset("task_struct", "comm").ok(), Some(12));
        assert!(matches!(
            btf.member_offset("task_struct", "cgroups"),
            Err(BtfError::MissingMember {
                member: "cgroups",
                ..
            })
        ));
    }

    #[test]
    fn reads_enum_values_and_tracepoint_prototypes() {
        let mut b = Builder::new();
        let (cpu, mem) = (b.s("cpu_cgrp_id"), b.s("memory_cgrp_id"));
        b.ty(
            "cgroup_subsys_id",
            KIND_ENUM,
            2,
            false,
            4,
            &[cpu, 1, mem, 4],
        );
        let task = b.ty("task_struct", KIND_STRUCT, 0, false, 0, &[]);
        let task_ptr = b.ty("", KIND_PTR, 0, false, task, &[]);
        let void_ptr = b.ty("", KIND_PTR, 0, false, 0, &[]);
        let proto = b.ty(
            "",
            KIND_FUNC_PROTO,
            2,
            false,
            0,
            &[0, void_ptr, 0, task_ptr],
        );
        let proto_ptr = b.ty("", KIND_PTR, 0, false, proto, &[]);
        b.ty(
            "btf_trace_mark_victim",
            KIND_TYPEDEF,
            0,
            false,
            proto_ptr,
            &[],
        );
        let btf = Btf::parse(b.build()).expect("valid blob");
        assert_eq!(
            btf.enum_value("cgroup_subsys_id", "memory_cgrp_id").ok(),
            Some(4)
        );
        assert!(btf.tracepoint_arg_is_struct_ptr("mark_victim", 0, "task_struct"));
        assert!(!btf.tracepoint_arg_is_struct_ptr("mark_victim", 0, "cgroup"));
        assert!(!btf.tracepoint_arg_is_struct_ptr("cgroup_mkdir", 0, "cgroup"));
    }

    /// Upstream before 6.9: `mark_victim(int pid)`, while `mark_oom_victim(struct task_struct *)`
    /// is in BTF as a FUNC (what the loader falls back to).
    #[test]
    fn reads_kernel_function_prototypes() {
        let mut b = Builder::new();
        let int = b.ty("int", KIND_INT, 0, false, 4, &[0x0100_0020]);
        let task = b.ty("task_struct", KIND_STRUCT, 0, false, 0, &[]);
        let task_ptr = b.ty("", KIND_PTR, 0, false, task, &[]);
        let void_ptr = b.ty("", KIND_PTR, 0, false, 0, &[]);
        let tp_proto = b.ty("", KIND_FUNC_PROTO, 2, false, 0, &[0, void_ptr, 0, int]);
        let tp_ptr = b.ty("", KIND_PTR, 0, false, tp_proto, &[]);
        b.ty("btf_trace_mark_victim", KIND_TYPEDEF, 0, false, tp_ptr, &[]);
        let tsk = b.s("tsk");
        let f_proto = b.ty("", KIND_FUNC_PROTO, 1, false, 0, &[tsk, task_ptr]);
        b.ty("mark_oom_victim", KIND_FUNC, 0, false, f_proto, &[]);
        let btf = Btf::parse(b.build()).expect("valid blob");
        assert!(!btf.tracepoint_arg_is_struct_ptr("mark_victim", 0, "task_struct"));
        assert!(btf.function_arg_is_struct_ptr("mark_oom_victim", 0, "task_struct"));
        assert!(!btf.function_arg_is_struct_ptr("mark_oom_victim", 1, "task_struct"));
        assert!(!btf.function_arg_is_struct_ptr("oom_kill_process", 0, "task_struct"));
    }

    #[test]
    fn rejects_garbage() {
        assert!(matches!(Btf::parse(vec![0; 8]), Err(BtfError::Format(_))));
    }

    /// Against the running kernel's BTF, when it has one.
    #[test]
    fn computes_offsets_for_the_running_kernel() {
        let Some(btf) = crate::events::ebpf::tests::running_kernel_btf() else {
            return;
        };
        let o = btf.offsets().expect("offsets found");
        assert_eq!(o.valid, 1);
        assert!(o.task_comm > o.task_pid, "{o:?}");
        assert!(btf.tracepoint_arg_is_struct_ptr("cgroup_mkdir", 0, "cgroup"));
    }
}
