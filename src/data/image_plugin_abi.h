/* The C ABI of libkiln_image.so, the optional image plugin (OpenCV inside) that kiln loads with dlopen.
   Plain C types only, so the plugin and kiln may use different C++ runtimes. Every call returns 0 on
   success, else nonzero with a message in err (NUL-terminated, at most errlen bytes). */
#ifndef KILN_IMAGE_PLUGIN_ABI_H
#define KILN_IMAGE_PLUGIN_ABI_H

#include <stddef.h>

#define KILN_IMAGE_ABI_VERSION 1

#ifdef __cplusplus
extern "C" {
#endif

/* KILN_IMAGE_ABI_VERSION of the plugin; kiln refuses another. */
int kiln_image_abi_version(void);
/* What decodes the images, e.g. "OpenCV 4.6.0". */
const char* kiln_image_backend(void);
/* Decodes an image file (anything OpenCV's imread reads; gray and alpha become 3 channels) into
 *rgb: height rows of width * 3 bytes, R G B. Free *rgb with kiln_image_free. */
int kiln_image_load(const char* path, int* height, int* width, unsigned char** rgb, char* err, size_t errlen);
/* Bilinear resize (cv::resize INTER_LINEAR, as cv2.resize) of a packed RGB image into out
   (out_height * out_width * 3 bytes, allocated by the caller). */
int kiln_image_resize(const unsigned char* rgb, int height, int width, int out_height, int out_width,
                      unsigned char* out, char* err, size_t errlen);
/* Writes a packed RGB image; the extension of path picks the format (.png, .jpg, .bmp, .ppm). */
int kiln_image_save(const char* path, const unsigned char* rgb, int height, int width, char* err, size_t errlen);
void kiln_image_free(unsigned char* rgb);

/* Video, optional: a plugin built with OpenCV's videoio exports these two, and kiln looks them up by name
   (a plugin without them still loads; video input then says what to install).
   kiln_image_video_load decodes the frames of a video file, at most max_frames (0: all), into *rgb:
   frames * height * width * 3 bytes, R G B (free with kiln_image_free); *fps is the container's frame rate,
   0 when it records none. */
int kiln_image_video_load(const char* path, int max_frames, int* frames, int* height, int* width, double* fps,
                          unsigned char** rgb, char* err, size_t errlen);
/* Writes RGB frames as a Motion-JPEG .avi (OpenCV's built-in encoder: no codec library needed). */
int kiln_image_video_save(const char* path, const unsigned char* rgb, int frames, int height, int width, double fps,
                          char* err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
