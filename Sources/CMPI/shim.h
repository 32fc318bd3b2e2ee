/* OpenMPI for Swift.
 *
 * Swift imports MPI's functions and integer constants, but not its predefined handles
 * (MPI_COMM_WORLD, MPI_DOUBLE, MPI_SUM, ...): OpenMPI defines them as casts of the
 * addresses of incomplete global structs, and the importer skips such macros. Each
 * handle is re-exported here as a read-only Swift global of the same name through a
 * `static inline` getter carrying `swift_name("getter:NAME()")`. The list is taken from
 * OpenMPI 4.1's mpi.h. No Swift API of its own: the MPI module wraps it.
 */
#ifndef SIGNALPROP_CMPI_SHIM_H
#define SIGNALPROP_CMPI_SHIM_H
#include <mpi.h>

#define CMPI_HANDLE(type, name)                                                    \
    static inline __attribute__((always_inline)) type cmpi_##name(void)            \
        __attribute__((swift_name("getter:" #name "()"))) { return name; }

CMPI_HANDLE(MPI_Comm, MPI_COMM_WORLD)
CMPI_HANDLE(MPI_Comm, MPI_COMM_SELF)
CMPI_HANDLE(MPI_Comm, MPI_COMM_NULL)
CMPI_HANDLE(MPI_Datatype, MPI_BYTE)
CMPI_HANDLE(MPI_Datatype, MPI_CHAR)
CMPI_HANDLE(MPI_Datatype, MPI_INT)
CMPI_HANDLE(MPI_Datatype, MPI_INT32_T)
CMPI_HANDLE(MPI_Datatype, MPI_INT64_T)
CMPI_HANDLE(MPI_Datatype, MPI_UINT32_T)
CMPI_HANDLE(MPI_Datatype, MPI_UINT64_T)
CMPI_HANDLE(MPI_Datatype, MPI_FLOAT)
CMPI_HANDLE(MPI_Datatype, MPI_DOUBLE)
CMPI_HANDLE(MPI_Op, MPI_SUM)
CMPI_HANDLE(MPI_Op, MPI_MAX)
CMPI_HANDLE(MPI_Op, MPI_MIN)
CMPI_HANDLE(MPI_Op, MPI_LAND)
CMPI_HANDLE(MPI_Op, MPI_LOR)
CMPI_HANDLE(MPI_Errhandler, MPI_ERRORS_RETURN)
CMPI_HANDLE(MPI_Errhandler, MPI_ERRORS_ARE_FATAL)
CMPI_HANDLE(MPI_Request, MPI_REQUEST_NULL)
CMPI_HANDLE(MPI_Info, MPI_INFO_NULL)

/* Pointer sentinels. */
static inline void *cmpi_in_place(void)
    __attribute__((swift_name("getter:MPI_IN_PLACE()"))) { return MPI_IN_PLACE; }
static inline MPI_Status *cmpi_status_ignore(void)
    __attribute__((swift_name("getter:MPI_STATUS_IGNORE()"))) { return MPI_STATUS_IGNORE; }
static inline MPI_Status *cmpi_statuses_ignore(void)
    __attribute__((swift_name("getter:MPI_STATUSES_IGNORE()"))) { return MPI_STATUSES_IGNORE; }

#endif
