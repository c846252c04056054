"""Everything that touches the kernel or runs the OCI runtime to make a container run.

The only modules that call runc or conmon, mount filesystems or read cgroup files.
"""
