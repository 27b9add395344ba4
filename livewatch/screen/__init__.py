"""What the screen shows: readers that find codes and text in a frame, the change detector that decides
which frames are worth reading, the tracker that turns readings over consecutive frames into appearances,
and the parser of ffmpeg's black/frozen-picture metadata. Pure library code: the capture writes the frames,
the screen stage (service) runs these, the rules read the results. See docs/screen.md."""
