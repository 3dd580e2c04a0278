# Writes kiln/version.h with the current git commit; run at every build so the sha never goes stale.
# Rewrites the header only when it changes, so an unchanged commit triggers no recompilation.
# Inputs: -DSOURCE_DIR=... -DOUTPUT=... -DPROJECT_VERSION=...
execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE KILN_GIT_SHA OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT KILN_GIT_SHA)
  set(KILN_GIT_SHA "unknown")
endif()
configure_file(${SOURCE_DIR}/src/core/version.h.in ${OUTPUT}.tmp @ONLY)
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUTPUT}.tmp)
