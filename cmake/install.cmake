# `cmake --install`: the libraries, the CLI, the headers under include/sharedvis/, the bundled
# model under share/sharedvis/, a CMake package (find_package(sharedvis CONFIG) gives
# sharedvis::engine, sharedvis::models, sharedvis::io, sharedvis::apps and, when CUDA was
# built, sharedvis::engine_cuda and sharedvis::cuda) and a pkg-config file (sharedvis.pc).
include(CMakePackageConfigHelpers)

get_property(_sv_targets GLOBAL PROPERTY SHAREDVIS_EXPORTED)
install(TARGETS ${_sv_targets} EXPORT sharedvisTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

set(_sv_header_dirs autodiff layers backends/reference backends/cpu weights apps)
if(SHAREDVIS_HAVE_CUDA)
  list(APPEND _sv_header_dirs backends/cuda)
endif()
foreach(dir IN LISTS _sv_header_dirs)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/sharedvis/${dir}
          FILES_MATCHING PATTERN "*.h")
endforeach()
install(FILES ${PROJECT_SOURCE_DIR}/backends/factory.h ${PROJECT_SOURCE_DIR}/backends/backend_check.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/sharedvis/backends)
install(FILES ${PROJECT_SOURCE_DIR}/weights/fmnist_cnn.safetensors DESTINATION ${CMAKE_INSTALL_DATADIR}/sharedvis)

set(_sv_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/sharedvis)
install(EXPORT sharedvisTargets NAMESPACE sharedvis:: DESTINATION ${_sv_cmake_dir})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/sharedvisConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/sharedvisConfig.cmake INSTALL_DESTINATION ${_sv_cmake_dir}
                              PATH_VARS CMAKE_INSTALL_DATADIR)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/sharedvisConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/sharedvisConfig.cmake ${PROJECT_BINARY_DIR}/sharedvisConfigVersion.cmake
        DESTINATION ${_sv_cmake_dir})

# pkg-config: the engine, models and formats (static libraries, dependents first).
set(SHAREDVIS_PC_LIBS "-lsharedvis_apps -lsharedvis_io -lsharedvis_models")
if(SHAREDVIS_HAVE_CUDA)
  string(APPEND SHAREDVIS_PC_LIBS " -lsharedvis_factory_cuda -lsharedvis_cuda")
else()
  string(APPEND SHAREDVIS_PC_LIBS " -lsharedvis_factory")
endif()
string(APPEND SHAREDVIS_PC_LIBS " -lsharedvis_cpu -lsharedvis_cpu_reference -lsharedvis_layers -lsharedvis_autodiff")
set(SHAREDVIS_PC_PRIVATE "${LAPACKE_LIBRARY} ${OPENBLAS_LIBRARY} ${STB_LIBRARY} -lpthread")
if(SHAREDVIS_HAVE_CUDA)
  string(APPEND SHAREDVIS_PC_PRIVATE " -L${CUDAToolkit_LIBRARY_DIR} -lcudart_static -lcublas ${CUDNN_LIBRARY} -ldl -lrt")
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/sharedvis.pc.in ${PROJECT_BINARY_DIR}/sharedvis.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/sharedvis.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
